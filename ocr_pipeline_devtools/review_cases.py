"""Requests with real verdicts for the review desk (its browser test, the screenshot script): a generated
document verified by the engine, the document and its evidence preview in S3, the verdict saved on the
request's row exactly as a run saves it."""

from __future__ import annotations

from typing import Any, Optional

from ocr_pipeline.adapters.store import VerdictStore
from ocr_pipeline.engine.models import Verdict
from ocr_pipeline.flows.events import RequestEvent
from ocr_pipeline.flows.preview import preview_key
from ocr_pipeline.flows.verification import read_and_decide


def verified_request(
    store: VerdictStore,
    s3: Any,
    bucket: str,
    request_id: int,
    person: Any,
    *,
    doc_type: str = "maternity_order",
    name_case: str = "initials",
    include_iin: bool = False,
    seed: int = 1,
    preview_prefix: Optional[str] = "_previews/",
) -> tuple[Verdict, Optional[str]]:
    """Render ``person``'s document (``ocr_pipeline_devtools.docgen``), upload it, record the request, run
    the engine on it and save the verdict; the preview goes under ``preview_prefix``. Returns the
    verdict and the preview's key (None when nothing could be boxed)."""
    from ocr_pipeline_devtools import docgen

    page = docgen.render_document(doc_type, person, name_case=name_case, include_iin=include_iin, seed=seed)
    data = docgen.degrade(page, "clean", seed=seed)
    applicant = person.applicant()
    key = f"2024/12/{doc_type}-{request_id}.png"
    s3.put_object(Bucket=bucket, Key=key, Body=data)
    event = RequestEvent(request_id=request_id, s3_path=key, iin=applicant.iin, last_name=applicant.last_name,
                         first_name=applicant.first_name, second_name=applicant.second_name)
    store.record_received(event)
    [(verdict, preview)] = read_and_decide(data, None, [applicant], {}, with_previews=bool(preview_prefix))
    store.save_verdict(request_id, verdict, run_id=None)
    if preview is None or not preview_prefix:
        return verdict, None
    target = preview_key(preview_prefix, key, request_id)
    s3.put_object(Bucket=bucket, Key=target, Body=preview, ContentType="image/jpeg")
    return verdict, target
