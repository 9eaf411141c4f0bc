"""Back-office logistics API."""
