"""Safety: masking identifiers, planting canaries and probing the tuned model for them."""
