"""Interoperability adapters: HL7 FHIR R4 (SDC) and CDS Hooks 2.0.

Every module here only translates between FHIR or CDS Hooks JSON and ketascreen's own
answers and results; no clinical logic lives here. FHIR models come from
``fhir.resources``' R4B package (wire-compatible with R4 for the resources we use).
"""
