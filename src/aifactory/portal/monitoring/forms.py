"""The monitoring pages take no input: objectives come from data and are changed in the admin by staff."""
