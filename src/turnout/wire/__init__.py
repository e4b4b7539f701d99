"""Wire formats: one representation in the middle (`hub`), one codec per format around it,
and the SSE framing they share."""
