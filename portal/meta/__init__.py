"""Everything that knows Meta's WhatsApp Business Platform: field names, enums, payloads, errors.

The rest of the code uses our names (`portal.meta.types`); Meta's stop at this package.
- `types`: our enums (with `from_meta`, which never fails on an unknown value) and typed results.
- `signatures`: X-Hub-Signature-256 signing and verification.
- `client`: the Graph API client (real HTTP to META_GRAPH_URL).
- `simulator`: a Meta stand-in on loopback for tests, benchmarks and `make run`.
"""
