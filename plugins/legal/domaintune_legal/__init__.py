"""domaintune-legal: LegalBench tasks, privilege exclusion and personal-data masking."""
