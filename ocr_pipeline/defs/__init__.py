"""The Dagster code location: assets, sensors, resources, jobs; ``defs.definitions.defs`` gathers them.

Kept free of imports so ``ocr_pipeline.defs.names`` is cheap to import (the API uses it)."""
