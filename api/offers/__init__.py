"""Add-on offers (加购优惠) and the storefront's offers query."""
