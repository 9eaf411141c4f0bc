"""Add-on offers (加购优惠): drafts from mined co-purchase patterns, review, the storefront, their effect."""
