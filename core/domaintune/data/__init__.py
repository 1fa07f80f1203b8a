"""Data: reading files in every supported shape, checking rows, caching, filtering and splitting."""
