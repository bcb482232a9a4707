"""The frameworks the portal first loads (migration 0002), summarised in our own words with their article or
section numbers; no text of any source is copied. Frozen: a later edition goes into a new module, loaded by a
new migration as a draft version, so this one stays what the first migration loaded.

Each control: (code, reference, title, summary, evidence kinds, applicability). Applicability keys: ``eu``
(EU AI Act categories), ``roles`` (provider, deployer), ``tiers``; absent means any.
"""

HIGH = {"eu": ["high_risk"], "roles": ["provider"]}
HIGH_ANY_ROLE = {"eu": ["high_risk"]}

EU_AI_ACT = {
    "code": "eu-ai-act", "order": 1, "name": "EU AI Act",
    "description": "The EU regulation on artificial intelligence. It sorts AI systems into prohibited, high-risk, "
                   "limited-risk and minimal-risk categories; high-risk systems (the Annex III areas, such as "
                   "credit scoring, or safety components of regulated products) carry the obligations below, "
                   "mostly on their provider.",
    "version": "2024/1689", "source": "Regulation (EU) 2024/1689 (Artificial Intelligence Act)",
    "controls": [
        ("EU-5", "Art. 5", "No prohibited practice",
         "Make sure the system is not one of the practices the Act bans outright, such as social scoring or "
         "exploiting people's vulnerabilities.", ["not_prohibited"], {}),
        ("EU-6", "Art. 6, Annex III", "Classification recorded",
         "Decide and record whether the system is high-risk, which Annex III area it falls in and whether we act "
         "as its provider or deployer.", ["classification"], {}),
        ("EU-9", "Art. 9", "Risk management system",
         "Run a risk management process across the whole life cycle: identify and estimate foreseeable risks, "
         "adopt measures against them, and review them regularly.", ["risk_assessment", "monitoring"], HIGH),
        ("EU-10", "Art. 10", "Data and data governance",
         "Train, validate and test on data whose origin, collection and preparation are documented, that is "
         "relevant and examined for possible bias.", ["lineage", "fairness"], HIGH),
        ("EU-11", "Art. 11, Annex IV", "Technical documentation",
         "Keep documentation, before it is put into service, that shows how the system meets the requirements: "
         "purpose, design, data, validation and the monitoring in place.",
         ["documentation", "lineage", "performance", "environment"], HIGH),
        ("EU-12", "Art. 12", "Record-keeping",
         "Make the system's events traceable over its lifetime through automatically kept records.",
         ["audit_trail", "monitoring"], HIGH),
        ("EU-13", "Art. 13", "Transparency and information to deployers",
         "Give deployers instructions they can understand: intended purpose, expected accuracy, known limits and "
         "the human oversight it needs.", ["documentation", "performance"], HIGH),
        ("EU-14", "Art. 14", "Human oversight",
         "Design the system so that competent people can understand, supervise and override it while it is in "
         "use.", ["human_oversight", "checklists"], HIGH_ANY_ROLE),
        ("EU-15", "Art. 15", "Accuracy, robustness and cybersecurity",
         "Reach and declare an appropriate level of accuracy, stay robust against errors and changes in its "
         "environment, and keep it consistent throughout its life.", ["performance", "environment"], HIGH),
        ("EU-17", "Art. 17", "Quality management system",
         "Have a documented quality management system covering design control, validation, data management, "
         "post-market monitoring and accountability.", ["approval", "checklists", "audit_trail"], HIGH),
        ("EU-26", "Art. 26", "Deployer obligations",
         "Use the system according to its instructions, assign trained people to oversee it, monitor its "
         "operation and keep its logs.", ["human_oversight", "monitoring", "audit_trail"],
         {"eu": ["high_risk"], "roles": ["deployer"]}),
        ("EU-50", "Art. 50", "Transparency for limited-risk systems",
         "Tell people when they interact with an AI system or see content it generated.",
         ["documentation"], {"eu": ["limited"]}),
        ("EU-72", "Art. 72", "Post-market monitoring",
         "Collect and analyse data on the system's performance once it is in use, following a documented "
         "monitoring plan.", ["monitoring", "performance"], HIGH),
        ("EU-73", "Art. 73", "Serious-incident reporting",
         "Report serious incidents to the market surveillance authority within the set deadlines, with a named "
         "person responsible and the records to investigate them.", ["human_oversight", "audit_trail"], HIGH),
    ],
}

NIST_AI_RMF = {
    "code": "nist-ai-rmf", "order": 2, "name": "NIST AI RMF",
    "description": "The voluntary US AI Risk Management Framework: four functions (Govern, Map, Measure, Manage) "
                   "and their categories, adopted here as internal policy for every model.",
    "version": "1.0", "source": "NIST AI 100-1, Artificial Intelligence Risk Management Framework 1.0 (2023)",
    "controls": [
        ("GOVERN 1", "GOVERN 1", "Policies and processes in place",
         "Risk management policies exist, are applied and are reviewed.", ["approval", "risk_assessment"], {}),
        ("GOVERN 2", "GOVERN 2", "Accountability structures",
         "Roles and responsibilities are clear and a named person answers for the system.",
         ["human_oversight", "checklists"], {}),
        ("GOVERN 4", "GOVERN 4", "Risk-aware culture and documentation",
         "Teams document risks and decisions and communicate them.", ["audit_trail", "documentation"], {}),
        ("MAP 1", "MAP 1", "Context established",
         "The intended purpose, setting, users and expected benefits and costs are understood and written down.",
         ["documentation", "classification"], {}),
        ("MAP 4", "MAP 4", "Risks of components mapped",
         "Risks from data, third-party parts and the software environment are mapped.",
         ["lineage", "environment"], {}),
        ("MAP 5", "MAP 5", "Impacts characterised",
         "Likelihood and size of impacts on people and the organisation are characterised.",
         ["risk_assessment", "fairness"], {}),
        ("MEASURE 2", "MEASURE 2", "Trustworthiness evaluated",
         "The system is evaluated for validity, reliability, fairness and other trustworthy characteristics.",
         ["performance", "fairness"], {}),
        ("MEASURE 3", "MEASURE 3", "Risks tracked over time",
         "Mechanisms track identified risks as the system runs.", ["monitoring"], {}),
        ("MANAGE 1", "MANAGE 1", "Risks prioritised and acted on",
         "Risks are prioritised by impact and responded to; the decision to deploy is documented.",
         ["risk_assessment", "approval"], {}),
        ("MANAGE 4", "MANAGE 4", "Post-deployment monitoring and response",
         "Risk treatments, including monitoring and response to incidents, are documented and followed.",
         ["monitoring", "audit_trail"], {}),
    ],
}

ISO_42001 = {
    "code": "iso-42001", "order": 3, "name": "ISO/IEC 42001",
    "description": "The international standard for an AI management system; the Annex A controls below are "
                   "those concerning one model's life cycle.",
    "version": "2023", "source": "ISO/IEC 42001:2023, Annex A",
    "controls": [
        ("A.5.2", "A.5.2", "AI system impact assessment",
         "Assess the possible consequences of the system for people and groups.", ["risk_assessment", "fairness"],
         {}),
        ("A.6.2.2", "A.6.2.2", "Requirements and specification",
         "Specify what the system must do and what it must not be used for.", ["documentation"], {}),
        ("A.6.2.4", "A.6.2.4", "Verification and validation",
         "Define and apply verification and validation measures before release.", ["performance", "approval"], {}),
        ("A.6.2.5", "A.6.2.5", "Deployment",
         "Document a deployment plan and the requirements met before deployment.", ["approval", "environment"], {}),
        ("A.6.2.6", "A.6.2.6", "Operation and monitoring",
         "Monitor the system in operation and keep it working as intended.", ["monitoring"], {}),
        ("A.6.2.7", "A.6.2.7", "Technical documentation",
         "Keep technical documentation for the relevant parties.", ["documentation", "environment"], {}),
        ("A.6.2.8", "A.6.2.8", "Event logs",
         "Decide which events to log and keep the logs.", ["audit_trail"], {}),
        ("A.7.5", "A.7.5", "Data provenance",
         "Record where the data comes from and how it was obtained.", ["lineage"], {}),
        ("A.9.2", "A.9.2", "Responsible use",
         "Define and follow processes for the system's responsible use, with human oversight.",
         ["human_oversight", "checklists"], {}),
    ],
}

SR_11_7 = {
    "code": "sr-11-7", "order": 4, "name": "SR 11-7 / OCC 2011-12",
    "description": "US supervisory guidance on model risk management for banks, applied here to every model.",
    "version": "2011", "source": "Federal Reserve SR 11-7 and OCC Bulletin 2011-12, Supervisory Guidance on "
                                 "Model Risk Management",
    "controls": [
        ("SR-DEV", "Section IV", "Sound development and use",
         "Document the model's purpose, design, data and limits, and use it only as intended.",
         ["documentation", "lineage"], {}),
        ("SR-VAL", "Section V", "Validation with effective challenge",
         "Have informed people independent of the developers challenge the model before use.",
         ["approval", "checklists"], {}),
        ("SR-VAL-HIGH", "Section V", "Validation depth matched to risk",
         "Validate models of greater risk more rigorously, including their conceptual soundness.",
         ["approval", "risk_assessment"], {"tiers": ["high", "critical"]}),
        ("SR-MON", "Section V", "Ongoing monitoring",
         "Check that the model performs as intended as products, exposures and data change.",
         ["monitoring", "environment"], {}),
        ("SR-OUT", "Section V", "Outcomes analysis",
         "Compare the model's outputs with actual outcomes, such as by back-testing.", ["performance"], {}),
        ("SR-INV", "Section VI", "Model inventory",
         "Keep a complete inventory of models with their owners, uses and validation status.",
         ["classification", "human_oversight"], {}),
        ("SR-GOV", "Section VI", "Governance, policies and controls",
         "Senior management and the board set policy, roles and the records of model risk management.",
         ["audit_trail", "risk_assessment"], {}),
    ],
}

FRAMEWORKS = [EU_AI_ACT, NIST_AI_RMF, ISO_42001, SR_11_7]
