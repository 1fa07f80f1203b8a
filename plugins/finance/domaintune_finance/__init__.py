"""domaintune-finance: TAT-QA table QA, financial PII masking, and advice flags."""
