"""The second mapping of the frameworks (migration 0005): validation findings and incidents became evidence.

Frozen, like ``catalogue_2026_12``: migration 0005 copies each framework's published version into a new version
labelled ``<edition>, mapping 2``, adds the evidence kinds below to the controls named, publishes it and retires
the first, so whatever was recorded against the first mapping keeps its meaning.

Why these controls: SR 11-7's effective challenge produces findings that must be remediated, and its outcomes
analysis is where production failures show; the EU AI Act's post-market monitoring (Art. 72) and serious-incident
reporting (Art. 73) are about incidents and their reporting deadlines; ISO/IEC 42001 A.6.2.4 (verification and
validation) and A.6.2.6 (operation and monitoring), and NIST AI RMF MANAGE 4 (post-deployment response), likewise.
"""

LABEL = "{version}, mapping 2"

ADDED_EVIDENCE = {
    "eu-ai-act": {"EU-72": ["incidents"], "EU-73": ["incidents"]},
    "nist-ai-rmf": {"MANAGE 4": ["incidents"]},
    "iso-42001": {"A.6.2.4": ["findings"], "A.6.2.6": ["incidents"]},
    "sr-11-7": {"SR-VAL": ["findings"], "SR-OUT": ["incidents"]},
}
