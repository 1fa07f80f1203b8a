"""Training: the fine-tuning loop and the processes it runs on."""
