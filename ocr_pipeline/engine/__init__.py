"""The verification engine: load -> preprocess -> OCR -> verify, plain Python without Dagster."""
