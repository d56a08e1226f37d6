"""The test suite; its helpers (services, fixtures, the document renderer) are in ``ocr_pipeline_devtools``."""
