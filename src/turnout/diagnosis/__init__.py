"""Provider error diagnosis: classify an error into the stable taxonomy and explain it.

This package imports nothing else of turnout, so harnesses can use it as a library on its own::

    from turnout import diagnose
    body = '{"type":"error","error":{"message":"You\\'re out of extra usage"}}'
    d = diagnose(status=400, body=body)
    d.category  # Category.QUOTA
"""

from turnout.diagnosis.engine import diagnose, explain_code
from turnout.diagnosis.model import Diagnosis
from turnout.diagnosis.taxonomy import CODES, RETRYABLE, Category

__all__ = ["CODES", "RETRYABLE", "Category", "Diagnosis", "diagnose", "explain_code"]
