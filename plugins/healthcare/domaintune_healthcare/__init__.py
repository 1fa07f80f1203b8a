"""domaintune-healthcare: PubMedQA, PHI masking, and dose flags on generated answers."""
