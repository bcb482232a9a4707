"""The demo portfolio as data: organisation, processes, data sets, pipelines and models.

``apps.demo.inventory`` turns it into rows through the services. Every data set a
model trains on names a *training family*: one of the data sets bundled with
scikit-learn, which stands in for the (fictional) business data so that every
metric shown in the portal comes from a real training run.
Model slugs are ``slugify(name)``; the other demo modules may look models up by them.
"""

from dataclasses import dataclass
from datetime import date

# Training families (see apps.demo.inventory.FAMILIES).
BREAST_CANCER, DIGITS_ZERO, WINE, IRIS, DIGITS, DIABETES = (
    "breast_cancer", "digits_zero", "wine", "iris", "digits", "diabetes",
)

# Algorithms (see apps.demo.inventory.ALGORITHM_LABELS).
LOGREG, RIDGE, FOREST, BOOSTING, HIST_BOOSTING, TREE = (
    "logistic_regression", "ridge", "random_forest", "gradient_boosting", "hist_gradient_boosting", "decision_tree",
)
DEV, VAL, STG, PROD, RET = "development", "validation", "staging", "production", "retired"


@dataclass(frozen=True)
class DemoPerson:
    username: str
    first_name: str
    last_name: str


# Data scientists besides the core demo users. "departed" leaves after the seed (inactive account).
EXTRA_SCIENTISTS = (
    DemoPerson("nadia", "Nadia", "Novak"),
    DemoPerson("tomas", "Tomás", "Ortega"),
    DemoPerson("li", "Li", "Wei"),
    DemoPerson("priya", "Priya", "Raman"),
    DemoPerson("departed", "Dana", "Moreau"),
)
DEPARTED = "departed"


@dataclass(frozen=True)
class TeamSpec:
    name: str
    members: tuple[str, ...]  # usernames; the first is the default accountable owner


@dataclass(frozen=True)
class UnitSpec:
    name: str
    description: str
    teams: tuple[TeamSpec, ...]


UNITS = (
    UnitSpec("Retail Banking", "Current accounts, cards, consumer loans and mortgages.", (
        TeamSpec("Credit Risk Analytics", ("nadia", "scientist")),
        TeamSpec("Financial Crime Analytics", ("tomas", "li")),
        TeamSpec("Customer Analytics", ("priya", "departed")),
    )),
    UnitSpec("Insurance", "Motor and home insurance: pricing, underwriting and claims.", (
        TeamSpec("Claims Analytics", ("li", "scientist")),
        TeamSpec("Pricing & Underwriting", ("li", "tomas")),
    )),
    UnitSpec("Marketing", "Campaigns, web and app personalisation.", (
        TeamSpec("Campaign Science", ("priya", "departed")),
        TeamSpec("Digital Personalisation", ("priya", "nadia")),
    )),
    UnitSpec("Operations", "Stores, supply chain, contact centre and back office.", (
        TeamSpec("Supply Chain Analytics", ("tomas", "scientist")),
        TeamSpec("Document Automation", ("scientist", "li")),
    )),
    UnitSpec("Human Resources", "Recruitment, people development and retention.", (
        TeamSpec("People Analytics", ("scientist", "departed")),
    )),
    UnitSpec("Health", "The group's hospitals and care programmes.", (
        TeamSpec("Clinical Data Science", ("nadia", "scientist")),
    )),
)


@dataclass(frozen=True)
class ProcessSpec:
    key: str
    name: str
    unit: str
    decision: str
    decisions_per_day: int
    value_at_stake: int  # EUR per year
    executive: str | None  # username; None leaves the gap "no accountable executive" visible
    description: str = ""


PROCESSES = (
    ProcessSpec("loan-origination", "Consumer loan origination", "Retail Banking",
                "Approve, refer or decline a consumer loan application", 1_800, 42_000_000, "executive",
                "Online and branch applications for unsecured loans up to EUR 50,000."),
    ProcessSpec("card-limits", "Credit card limit management", "Retail Banking",
                "Raise, keep or lower a customer's card credit limit", 5_000, 18_000_000, "executive"),
    ProcessSpec("collections", "Collections prioritisation", "Retail Banking",
                "Which customers in early arrears are contacted first", 2_500, 11_000_000, "executive"),
    ProcessSpec("aml", "Transaction monitoring (AML)", "Retail Banking",
                "Raise an anti-money-laundering alert for an investigator", 250_000, 30_000_000, "executive",
                "A regulatory obligation; alerts are investigated by the financial crime unit."),
    ProcessSpec("card-authorisation", "Card payment authorisation", "Retail Banking",
                "Approve or block a card payment in real time", 2_000_000, 60_000_000, "executive"),
    ProcessSpec("retention", "Customer retention", "Retail Banking",
                "Which customers get a retention call or offer", 3_000, 9_500_000, "executive"),
    ProcessSpec("complaints", "Complaint handling", "Retail Banking",
                "Route a complaint to the team that resolves it", 600, 1_500_000, "executive"),
    ProcessSpec("motor-claims", "Motor claims handling", "Insurance",
                "Fast-track, investigate or refer a motor claim", 900, 26_000_000, "executive"),
    ProcessSpec("home-pricing", "Home insurance pricing", "Insurance",
                "The premium quoted to a customer for home insurance", 4_000, 55_000_000, "executive"),
    ProcessSpec("campaigns", "Campaign targeting", "Marketing",
                "Who receives which campaign, through which channel", 120_000, 7_000_000, "executive"),
    ProcessSpec("web-personalisation", "Website personalisation", "Marketing",
                "Which offer and content a visitor sees", 400_000, 12_000_000, "executive"),
    ProcessSpec("replenishment", "Store replenishment", "Operations",
                "How many units of each product to order per store", 60_000, 35_000_000, "executive"),
    ProcessSpec("inbound-documents", "Inbound document processing", "Operations",
                "Route scanned forms and read their handwritten fields", 15_000, 4_000_000, "executive"),
    ProcessSpec("workforce", "Contact centre workforce scheduling", "Operations",
                "How many agents to roster per half hour", 96, 6_000_000, "executive"),
    ProcessSpec("recruitment", "Recruitment screening", "Human Resources",
                "Which applicants are invited to an interview", 400, 3_500_000, "executive",
                "High-risk use under the EU AI Act (Annex III, employment)."),
    ProcessSpec("employee-retention", "Employee retention", "Human Resources",
                "Which teams get a retention review", 20, 2_000_000, None),
    ProcessSpec("discharge", "Hospital discharge planning", "Health",
                "Which patients get a follow-up call after discharge", 350, 8_000_000, "executive"),
    ProcessSpec("imaging", "Diagnostic imaging triage", "Health",
                "The order in which imaging studies are read", 1_200, 15_000_000, "executive"),
    ProcessSpec("diabetes-care", "Diabetes care management", "Health",
                "Which patients are enrolled in an intensive care programme", 150, 5_000_000, "executive"),
    ProcessSpec("outpatients", "Outpatient scheduling", "Health",
                "Which appointments get a reminder call", 2_000, 3_000_000, "executive"),
)


@dataclass(frozen=True)
class DataSetSpec:
    key: str
    name: str
    version: str
    source_system: str  # for derived sets: the platform the pipeline writes to
    owner: str
    columns: tuple[tuple[str, str], ...]
    description: str
    period: tuple[date, date]
    family: str | None = None  # needed when a model trains on the set
    legal_basis: str = "not_applicable"
    consent_notes: str = ""
    sensitive: str | None = None  # synthetic protected attribute recorded in the schema ("sex", "age_band")
    derived: bool = False

    @property
    def personal(self) -> bool:
        return self.legal_basis != "not_applicable"


# Collection periods.
TO_2024, TO_2025Q1 = (date(2022, 1, 1), date(2024, 12, 31)), (date(2023, 4, 1), date(2025, 3, 31))

DATASETS = (
    # --- Retail Banking ---
    DataSetSpec("loan_applications", "Loan applications", "2025-03", "Temenos T24 (core banking)", "nadia",
                (("application_id", "string"), ("customer_id", "string"), ("requested_amount", "decimal"),
                 ("term_months", "integer"), ("purpose", "category"), ("employment_status", "category"),
                 ("net_monthly_income", "decimal"), ("date_of_birth", "date"), ("postcode", "string"),
                 ("decision", "category")),
                "Every consumer loan application with the decision taken.", TO_2025Q1,
                legal_basis="contract", consent_notes="Processed to take steps before entering a contract.",
                sensitive="sex"),
    DataSetSpec("credit_bureau", "Credit bureau extract", "2025-03", "Experian Delphi feed", "nadia",
                (("customer_id", "string"), ("bureau_score", "integer"), ("open_accounts", "integer"),
                 ("missed_payments_12m", "integer"), ("court_judgements", "integer"),
                 ("searches_6m", "integer")),
                "Monthly bureau snapshot for applicants and existing borrowers.", TO_2025Q1,
                legal_basis="legitimate_interests",
                consent_notes="Responsible lending; applicants are told at application."),
    DataSetSpec("card_transactions", "Card transactions", "2025-02", "TSYS card processing", "tomas",
                (("card_id", "string"), ("timestamp", "datetime"), ("amount", "decimal"),
                 ("merchant_category", "category"), ("country", "category"), ("channel", "category"),
                 ("approved", "boolean")),
                "Authorised and declined card transactions.", TO_2025Q1, legal_basis="contract"),
    DataSetSpec("payments_ledger", "Payments ledger", "2025-03", "Volante payments hub", "tomas",
                (("payment_id", "string"), ("debtor_account", "string"), ("creditor_account", "string"),
                 ("amount", "decimal"), ("currency", "category"), ("counterparty_country", "category"),
                 ("timestamp", "datetime")),
                "Incoming and outgoing SEPA and SWIFT payments.", TO_2025Q1,
                legal_basis="legal_obligation", consent_notes="Anti-money-laundering directive (EU) 2015/849."),
    DataSetSpec("kyc_register", "KYC customer register", "2025-03", "Fenergo CLM", "tomas",
                (("customer_id", "string"), ("risk_rating", "category"), ("pep", "boolean"),
                 ("nationality", "category"), ("onboarded_on", "date"), ("occupation", "category")),
                "Know-your-customer data captured at onboarding and periodic review.", TO_2025Q1,
                legal_basis="legal_obligation", consent_notes="Customer due diligence obligations."),
    DataSetSpec("crm_interactions", "CRM interactions", "2025-03", "Salesforce Service Cloud", "priya",
                (("case_id", "string"), ("customer_id", "string"), ("channel", "category"),
                 ("topic", "category"), ("text", "text"), ("opened_at", "datetime"), ("closed_at", "datetime")),
                "Calls, chats and complaints logged by the service centre.", TO_2025Q1, family=WINE,
                legal_basis="legitimate_interests", sensitive="age_band"),
    DataSetSpec("recoveries", "Collections recoveries", "2024-12", "FICO Debt Manager", "nadia",
                (("account_id", "string"), ("default_date", "date"), ("exposure_at_default", "decimal"),
                 ("recovered_amount", "decimal"), ("collateral_type", "category")),
                "Recovered amounts on defaulted loans and cards.", TO_2024, legal_basis="contract"),
    # --- Insurance ---
    DataSetSpec("claims_history", "Claims history", "2025-03", "Guidewire ClaimCenter", "li",
                (("claim_id", "string"), ("policy_id", "string"), ("loss_date", "date"),
                 ("reported_date", "date"), ("loss_cause", "category"), ("paid_amount", "decimal"),
                 ("adjuster_notes", "text"), ("fraud_confirmed", "boolean")),
                "Motor and home claims with payments and investigation outcomes.", TO_2025Q1, family=DIABETES,
                legal_basis="contract", sensitive="sex"),
    DataSetSpec("policy_history", "Policy and quote history", "2025-03", "Guidewire PolicyCenter", "li",
                (("policy_id", "string"), ("product", "category"), ("sum_insured", "decimal"),
                 ("postcode", "string"), ("build_year", "integer"), ("premium", "decimal"),
                 ("underwriter_referral", "boolean")),
                "Quotes and policies with their underwriting outcome.", TO_2025Q1, family=BREAST_CANCER,
                legal_basis="contract", sensitive="age_band"),
    DataSetSpec("telematics", "Telematics trips", "2024-06", "Octo telematics platform", "li",
                (("policy_id", "string"), ("trip_start", "datetime"), ("distance_km", "float"),
                 ("harsh_braking", "integer"), ("night_share", "float"), ("speeding_share", "float")),
                "Trips recorded by the black-box pilot (ended June 2024).", (date(2022, 6, 1), date(2024, 6, 30)),
                family=DIABETES, legal_basis="consent", consent_notes="Opt-in pilot; consent withdrawn on exit.",
                sensitive="age_band"),
    DataSetSpec("damage_photos", "Motor damage photos", "2025-01", "Solera Audatex", "li",
                (("claim_id", "string"), ("photo_uri", "string"), ("vehicle_make", "category"),
                 ("assessor_outcome", "category")),
                "Photos uploaded with motor claims and the assessor's outcome.", TO_2024, family=IRIS,
                legal_basis="contract", consent_notes="Number plates and faces are blurred at ingestion."),
    # --- Marketing ---
    DataSetSpec("campaign_responses", "Campaign responses", "2025-03", "Adobe Campaign", "priya",
                (("customer_id", "string"), ("campaign_id", "string"), ("channel", "category"),
                 ("sent_at", "datetime"), ("opened", "boolean"), ("converted", "boolean")),
                "Who received which campaign and how they responded.", TO_2025Q1, family=IRIS,
                legal_basis="consent", consent_notes="Marketing consent captured in the preference centre.",
                sensitive="age_band"),
    DataSetSpec("email_engagement", "Email engagement log", "2025-03", "Adobe Campaign", "priya",
                (("customer_id", "string"), ("sent_at", "datetime"), ("opened_at", "datetime"),
                 ("device", "category")),
                "Opens and clicks of marketing emails.", TO_2025Q1, family=DIABETES, legal_basis="consent"),
    DataSetSpec("web_clickstream", "Web clickstream", "2025-03", "Adobe Analytics", "priya",
                (("visitor_id", "string"), ("session_id", "string"), ("page", "string"),
                 ("timestamp", "datetime"), ("referrer", "string"), ("device", "category")),
                "Page views on the public website and the app.", TO_2025Q1,
                legal_basis="consent", consent_notes="Analytics cookies accepted in the cookie banner."),
    DataSetSpec("search_queries", "Site search queries", "2025-02", "Algolia search logs", "priya",
                (("session_id", "string"), ("query", "text"), ("clicked_result", "string"),
                 ("timestamp", "datetime")),
                "Queries typed into site search and the result clicked.", TO_2025Q1, family=DIGITS,
                legal_basis="consent"),
    # --- Operations ---
    DataSetSpec("store_sales", "Store sales", "2025-03", "SAP S/4HANA Retail", "tomas",
                (("store_id", "string"), ("sku", "string"), ("date", "date"), ("units", "integer"),
                 ("revenue", "decimal"), ("stock_on_hand", "integer")),
                "Daily unit sales and stock per store and product.", TO_2025Q1),
    DataSetSpec("promo_calendar", "Promotion calendar", "2025-03", "SAP Promotion Management", "tomas",
                (("sku", "string"), ("store_cluster", "category"), ("start", "date"), ("end", "date"),
                 ("discount_pct", "float")),
                "Planned promotions and price changes.", TO_2025Q1),
    DataSetSpec("stock_positions", "Store stock positions", "2025-03", "SAP EWM", "tomas",
                (("store_id", "string"), ("sku", "string"), ("date", "date"), ("on_hand", "integer"),
                 ("in_transit", "integer"), ("stock_out_next_day", "boolean")),
                "End-of-day stock positions and next-day stock-outs.", TO_2025Q1, family=BREAST_CANCER),
    DataSetSpec("shipments", "Parcel shipments", "2025-03", "Blue Yonder TMS", "tomas",
                (("shipment_id", "string"), ("origin_hub", "category"), ("destination_postcode", "string"),
                 ("weight_kg", "float"), ("shipped_at", "datetime"), ("delivered_at", "datetime")),
                "Online-order shipments and their delivery times.", TO_2025Q1, family=DIABETES),
    DataSetSpec("supplier_register", "Supplier register", "2025-01", "Coupa Supplier Management", "tomas",
                (("supplier_id", "string"), ("country", "category"), ("spend_12m", "decimal"),
                 ("late_deliveries_12m", "integer"), ("audit_rating", "category")),
                "Approved suppliers with spend, delivery performance and audit rating.", TO_2024, family=WINE),
    DataSetSpec("scanned_forms", "Scanned forms", "2025-03", "Kofax Capture", "scientist",
                (("document_id", "string"), ("form_type", "category"), ("page_image", "image"),
                 ("received_at", "datetime"), ("signed", "boolean")),
                "Paper forms scanned in the mail room.", TO_2025Q1, family=DIGITS_ZERO,
                legal_basis="contract", consent_notes="Forms are kept for the retention period of the contract."),
    DataSetSpec("contact_volumes", "Contact centre volumes", "2025-03", "Genesys Cloud CX", "tomas",
                (("interval_start", "datetime"), ("queue", "category"), ("offered", "integer"),
                 ("handled", "integer"), ("avg_handle_time_s", "float")),
                "Contacts offered and handled per half hour and queue.", TO_2025Q1, family=DIABETES),
    # --- Human Resources ---
    DataSetSpec("job_applications", "Job applications", "2025-03", "Workday Recruiting", "scientist",
                (("application_id", "string"), ("vacancy_id", "string"), ("cv_text", "text"),
                 ("years_experience", "integer"), ("education_level", "category"), ("invited", "boolean")),
                "Applications with CVs and the recruiter's screening decision.", TO_2025Q1,
                legal_basis="legitimate_interests",
                consent_notes="Applicants are informed in the privacy notice of the careers site.",
                sensitive="sex"),
    DataSetSpec("employee_records", "HR employee records", "2025-03", "Workday HCM", "scientist",
                (("employee_id", "string"), ("department", "category"), ("grade", "category"),
                 ("hire_date", "date"), ("last_promotion", "date"), ("left_on", "date")),
                "Employees, grades, moves and leavers.", TO_2025Q1, family=IRIS,
                legal_basis="contract", sensitive="age_band"),
    DataSetSpec("salary_survey", "Salary survey", "2024-01", "Mercer salary survey", "scientist",
                (("job_family", "category"), ("grade", "category"), ("country", "category"),
                 ("median_base_salary", "decimal")),
                "Market salary benchmarks (aggregated, no individuals).", (date(2023, 1, 1), date(2023, 12, 31)),
                family=DIABETES),
    # --- Health ---
    DataSetSpec("admissions", "Hospital admissions", "2025-03", "Epic Clarity (EHR)", "nadia",
                (("encounter_id", "string"), ("patient_id", "string"), ("admitted_at", "datetime"),
                 ("discharged_at", "datetime"), ("diagnosis_codes", "list[string]"), ("ward", "category"),
                 ("readmitted_30d", "boolean")),
                "Inpatient encounters with diagnoses and 30-day readmissions.", TO_2025Q1,
                legal_basis="public_task",
                consent_notes="Special category (health) data, Art. 9(2)(h) GDPR; pseudonymised.",
                sensitive="sex"),
    DataSetSpec("lab_results", "Laboratory results", "2025-03", "Cerner PathNet LIS", "nadia",
                (("encounter_id", "string"), ("test_code", "category"), ("value", "float"),
                 ("unit", "category"), ("taken_at", "datetime")),
                "Blood tests and other laboratory results.", TO_2025Q1, family=DIGITS_ZERO,
                legal_basis="public_task", consent_notes="Special category (health) data, Art. 9(2)(h) GDPR.",
                sensitive="sex"),
    DataSetSpec("radiology_studies", "Radiology studies", "2025-03", "Sectra PACS", "nadia",
                (("study_id", "string"), ("patient_id", "string"), ("modality", "category"),
                 ("body_part", "category"), ("report_outcome", "category")),
                "Imaging studies with the radiologist's reported outcome.", TO_2025Q1, family=BREAST_CANCER,
                legal_basis="public_task", consent_notes="Special category (health) data, Art. 9(2)(h) GDPR.",
                sensitive="sex"),
    DataSetSpec("diabetes_registry", "Diabetes registry", "2025-01", "Regional diabetes registry", "nadia",
                (("patient_id", "string"), ("age", "integer"), ("bmi", "float"), ("blood_pressure", "float"),
                 ("hba1c", "float"), ("progression_1y", "float")),
                "Registry of diabetes patients with a one-year disease progression score.", TO_2024,
                family=DIABETES, legal_basis="consent",
                consent_notes="Explicit consent to registry research, Art. 9(2)(a) GDPR.", sensitive="sex"),
    DataSetSpec("appointments", "Outpatient appointments", "2025-03", "Epic Cadence", "nadia",
                (("appointment_id", "string"), ("patient_id", "string"), ("clinic", "category"),
                 ("booked_at", "datetime"), ("slot", "datetime"), ("attended", "boolean")),
                "Booked outpatient appointments and attendance.", TO_2025Q1, family=BREAST_CANCER,
                legal_basis="public_task", sensitive="age_band"),
    # --- Derived feature sets (outputs of PIPELINES) ---
    DataSetSpec("credit_features", "Credit application features", "2025-03.2", "Databricks feature store", "nadia",
                (("application_id", "string"), ("debt_to_income", "float"), ("bureau_score_band", "category"),
                 ("months_at_address", "integer"), ("utilisation_ratio", "float"), ("arrears_12m", "boolean"),
                 ("defaulted_12m", "boolean")),
                "Application and bureau data joined at application time, with the 12-month default label.",
                TO_2025Q1, family=BREAST_CANCER, legal_basis="contract", sensitive="sex", derived=True),
    DataSetSpec("card_features", "Card behaviour features", "2025-02.1", "Databricks feature store", "nadia",
                (("card_id", "string"), ("spend_30d", "decimal"), ("cash_advance_share", "float"),
                 ("utilisation_ratio", "float"), ("payments_missed_6m", "integer"), ("arrears_next_3m", "boolean")),
                "Monthly spend, utilisation and repayment behaviour per card.", TO_2025Q1, family=BREAST_CANCER,
                legal_basis="contract", sensitive="age_band", derived=True),
    DataSetSpec("authorisation_features", "Card authorisation features", "2025-02.4", "Kafka feature stream", "tomas",
                (("card_id", "string"), ("amount_zscore", "float"), ("merchant_risk", "float"),
                 ("distance_from_home_km", "float"), ("tx_last_hour", "integer"), ("fraud", "boolean")),
                "Streaming features computed at authorisation time, labelled with confirmed fraud.", TO_2025Q1,
                family=DIGITS_ZERO, legal_basis="contract", derived=True),
    DataSetSpec("aml_features", "AML transaction network features", "2025-03.1", "Databricks feature store",
                "tomas",
                (("customer_id", "string"), ("inflow_outflow_ratio", "float"), ("new_counterparties_30d", "integer"),
                 ("high_risk_country_share", "float"), ("structuring_score", "float"), ("sar_filed", "boolean")),
                "Payment-network features per customer, labelled with suspicious activity reports.", TO_2025Q1,
                family=DIGITS_ZERO, legal_basis="legal_obligation", derived=True),
    DataSetSpec("recovery_features", "Recovery outcome features", "2024-12.1", "Databricks feature store", "nadia",
                (("account_id", "string"), ("exposure_at_default", "decimal"), ("collateral_value", "decimal"),
                 ("months_on_book", "integer"), ("loss_rate", "float")),
                "Defaulted accounts with the realised loss rate.", TO_2024, family=DIABETES,
                legal_basis="contract", derived=True),
    DataSetSpec("customer_360", "Customer 360 features", "2025-03.3", "Databricks feature store", "priya",
                (("customer_id", "string"), ("tenure_months", "integer"), ("products_held", "integer"),
                 ("complaints_12m", "integer"), ("digital_logins_30d", "integer"), ("churned_90d", "boolean")),
                "One row per customer: products, service contacts, digital activity and campaign history.",
                TO_2025Q1, family=BREAST_CANCER, legal_basis="legitimate_interests", sensitive="age_band",
                derived=True),
    DataSetSpec("customer_value", "Customer value history", "2025-03.1", "Databricks feature store", "priya",
                (("customer_id", "string"), ("revenue_12m", "decimal"), ("products_held", "integer"),
                 ("revenue_next_12m", "decimal")),
                "Revenue per customer with the following year's revenue as target.", TO_2025Q1, family=DIABETES,
                legal_basis="legitimate_interests", derived=True),
    DataSetSpec("offer_features", "Offer eligibility features", "2025-03.1", "Databricks feature store", "priya",
                (("customer_id", "string"), ("eligible_offers", "list[string]"), ("propensity_cards", "float"),
                 ("propensity_savings", "float"), ("accepted_offer", "category")),
                "Customer 360 features restricted to eligible offers, labelled with the offer accepted.", TO_2025Q1,
                family=WINE, legal_basis="consent", sensitive="age_band", derived=True),
    DataSetSpec("claims_features", "Claims fraud features", "2025-03.2", "Databricks feature store", "li",
                (("claim_id", "string"), ("days_to_report", "integer"), ("policy_age_days", "integer"),
                 ("prior_claims_3y", "integer"), ("third_party_count", "integer"), ("fraud_confirmed", "boolean")),
                "Claim and policy data joined at first notice of loss, labelled with confirmed fraud.", TO_2025Q1,
                family=DIGITS_ZERO, legal_basis="contract", sensitive="sex", derived=True),
    DataSetSpec("claims_text_features", "Claims notes features", "2025-03.1", "Databricks feature store", "li",
                (("claim_id", "string"), ("notes_embedding", "vector[64]"), ("injury_mentioned", "boolean"),
                 ("handling_track", "category")),
                "Text features from adjuster notes, labelled with the handling track.", TO_2025Q1, family=WINE,
                legal_basis="contract", derived=True),
    DataSetSpec("pricing_features", "Home risk pricing features", "2025-03.1", "Databricks feature store", "li",
                (("policy_id", "string"), ("flood_zone", "category"), ("build_year", "integer"),
                 ("sum_insured", "decimal"), ("claims_5y", "integer"), ("burning_cost", "float")),
                "Home policies with risk factors and observed burning cost.", TO_2025Q1, family=DIABETES,
                legal_basis="contract", derived=True),
    DataSetSpec("session_features", "Web session features", "2025-03.1", "Snowflake", "priya",
                (("session_id", "string"), ("pages_viewed", "integer"), ("product_pages_share", "float"),
                 ("returning_visitor", "boolean"), ("clicked_banner", "category")),
                "Sessionised clickstream, labelled with the banner clicked.", TO_2025Q1, family=IRIS,
                legal_basis="consent", derived=True),
    DataSetSpec("demand_features", "Store demand features", "2025-03.2", "Snowflake", "tomas",
                (("store_id", "string"), ("sku", "string"), ("week", "date"), ("lag_1w_units", "integer"),
                 ("lag_52w_units", "integer"), ("promo_active", "boolean"), ("units_next_week", "integer")),
                "Weekly demand per store and product with calendar and promotion features.", TO_2025Q1,
                family=DIABETES, derived=True),
    DataSetSpec("form_digits", "Normalised form field images", "2025-03.1", "S3 (ml-features bucket)",
                "scientist",
                (("document_id", "string"), ("field", "category"), ("pixels_8x8", "vector[64]"),
                 ("digit", "category")),
                "Handwritten digits cut from form fields, normalised to 8x8 grey levels and labelled.", TO_2025Q1,
                family=DIGITS, legal_basis="contract", derived=True),
    DataSetSpec("candidate_features", "Candidate skills features", "2025-03.1", "Databricks feature store",
                "scientist",
                (("application_id", "string"), ("skills_match", "float"), ("years_experience", "integer"),
                 ("education_level", "category"), ("invited", "boolean")),
                "Skills extracted from CVs and matched to the vacancy; names and photos removed.", TO_2025Q1,
                family=BREAST_CANCER, legal_basis="legitimate_interests", sensitive="sex", derived=True),
    DataSetSpec("attrition_features", "Employee tenure features", "2025-03.1", "Databricks feature store",
                "scientist",
                (("employee_id", "string"), ("tenure_months", "integer"), ("months_since_promotion", "integer"),
                 ("manager_changes_2y", "integer"), ("left_within_12m", "boolean")),
                "Tenure, promotion and manager history per employee.", TO_2025Q1, family=BREAST_CANCER,
                legal_basis="contract", sensitive="age_band", derived=True),
    DataSetSpec("admission_features", "Admission features", "2025-03.2", "Clinical data warehouse", "nadia",
                (("encounter_id", "string"), ("charlson_index", "integer"), ("length_of_stay_days", "integer"),
                 ("abnormal_labs_count", "integer"), ("prior_admissions_12m", "integer"),
                 ("readmitted_30d", "boolean")),
                "Encounter-level features from diagnoses and lab results.", TO_2025Q1, family=BREAST_CANCER,
                legal_basis="public_task", consent_notes="Special category (health) data, Art. 9(2)(h) GDPR.",
                sensitive="sex", derived=True),
    DataSetSpec("imaging_features", "Imaging study features", "2025-03.1", "Clinical data warehouse", "nadia",
                (("study_id", "string"), ("modality", "category"), ("referral_urgency", "category"),
                 ("prior_findings", "integer"), ("priority", "category")),
                "Study metadata and referral text features, labelled with the radiologist's priority.", TO_2025Q1,
                family=WINE, legal_basis="public_task", sensitive="sex", derived=True),
)


@dataclass(frozen=True)
class StepSpec:
    name: str
    inputs: tuple[str, ...]
    output: str
    code_uri: str
    description: str = ""


PIPELINES = (
    StepSpec("Credit application feature pipeline", ("loan_applications", "credit_bureau"), "credit_features",
             "git@git.internal:credit/features.git#pipelines/application.py",
             "Joins applications to the bureau snapshot valid on the application date."),
    StepSpec("Card behaviour aggregation", ("card_transactions", "credit_bureau"), "card_features",
             "git@git.internal:credit/features.git#pipelines/cards.py"),
    StepSpec("Card authorisation stream features", ("card_transactions",), "authorisation_features",
             "git@git.internal:fincrime/streaming.git#flink/authorisation.sql"),
    StepSpec("AML network features", ("payments_ledger", "kyc_register"), "aml_features",
             "git@git.internal:fincrime/aml.git#jobs/network_features.py"),
    StepSpec("Recovery outcome features", ("recoveries", "loan_applications"), "recovery_features",
             "git@git.internal:credit/features.git#pipelines/recoveries.py"),
    StepSpec("Customer 360 build", ("crm_interactions", "card_transactions", "campaign_responses"), "customer_360",
             "git@git.internal:customer/c360.git#dbt/models/customer_360.sql"),
    StepSpec("Customer value aggregation", ("crm_interactions", "card_transactions"), "customer_value",
             "git@git.internal:customer/c360.git#dbt/models/customer_value.sql"),
    StepSpec("Offer eligibility", ("customer_360", "campaign_responses"), "offer_features",
             "git@git.internal:marketing/nbo.git#pipelines/eligibility.py",
             "Applies product eligibility rules to the customer 360 features."),
    StepSpec("Claims fraud feature pipeline", ("claims_history", "policy_history"), "claims_features",
             "git@git.internal:insurance/claims.git#pipelines/fraud_features.py"),
    StepSpec("Claims notes NLP", ("claims_history",), "claims_text_features",
             "git@git.internal:insurance/claims.git#pipelines/notes_nlp.py"),
    StepSpec("Home risk pricing features", ("policy_history", "claims_history"), "pricing_features",
             "git@git.internal:insurance/pricing.git#pipelines/home.py"),
    StepSpec("Web sessionisation", ("web_clickstream",), "session_features",
             "git@git.internal:marketing/web.git#dbt/models/sessions.sql"),
    StepSpec("Store demand feature pipeline", ("store_sales", "promo_calendar"), "demand_features",
             "git@git.internal:ops/forecasting.git#pipelines/demand_features.py"),
    StepSpec("Form field image normalisation", ("scanned_forms",), "form_digits",
             "git@git.internal:ops/documents.git#jobs/normalise_fields.py"),
    StepSpec("CV parsing and skills extraction", ("job_applications",), "candidate_features",
             "git@git.internal:hr/recruiting.git#jobs/cv_skills.py",
             "Removes names, photos, dates of birth and addresses before matching skills."),
    StepSpec("Employee tenure features", ("employee_records",), "attrition_features",
             "git@git.internal:hr/people.git#dbt/models/tenure.sql"),
    StepSpec("Admission feature pipeline", ("admissions", "lab_results"), "admission_features",
             "git@git.internal:health/cdw.git#pipelines/admissions.py"),
    StepSpec("Imaging study features", ("radiology_studies",), "imaging_features",
             "git@git.internal:health/cdw.git#pipelines/imaging.py"),
)


@dataclass(frozen=True)
class V:
    """One version of a demo model: the stage it ends in and the algorithm it was trained with."""

    stage: str
    algorithm: str


@dataclass(frozen=True)
class ModelSpec:
    name: str
    unit: str
    team: str
    purpose: str
    intended_use: str
    out_of_scope: str
    data: tuple[str, ...]  # data set keys; all share one training family
    versions: tuple[V, ...]
    exposure: str = "internal"
    automation: str = "human_decides"
    processes: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    owner: str | None = None  # defaults to the team's first member
    serving: str = "batch"  # "endpoint" or "batch" for production and staging deployments
    legacy_runtime: bool = False  # production still runs on the old image: environment mismatch
    retired_because: str = ""


RB, INS, MKT, OPS, HR, HEALTH = (
    "Retail Banking", "Insurance", "Marketing", "Operations", "Human Resources", "Health",
)

MODELS = (
    # --- Retail Banking: Credit Risk Analytics ---
    ModelSpec("Retail credit scoring", RB, "Credit Risk Analytics",
              "Estimates the probability that a consumer loan applicant defaults within 12 months.",
              "Input to the approve/refer/decline decision for unsecured consumer loans up to EUR 50,000.",
              "Mortgages, business lending, pricing, marketing pre-selection.",
              ("credit_features",), (V(RET, LOGREG), V(RET, LOGREG), V(PROD, BOOSTING), V(STG, BOOSTING)),
              exposure="customer_facing", automation="human_reviews", processes=("loan-origination",),
              tags=("credit", "probability-of-default", "gdpr-art-22"), serving="endpoint"),
    ModelSpec("Credit card limit management", RB, "Credit Risk Analytics",
              "Predicts whether a cardholder can carry a higher limit without falling into arrears.",
              "Monthly batch proposing limit increases and decreases within policy bands.",
              "Limits above EUR 20,000, business cards, collections decisions.",
              ("card_features",), (V(RET, LOGREG), V(PROD, FOREST)),
              exposure="customer_facing", automation="fully_automated", processes=("card-limits",),
              tags=("credit", "cards"), legacy_runtime=True),
    ModelSpec("Loss given default", RB, "Credit Risk Analytics",
              "Estimates the share of exposure lost when a loan defaults.",
              "IFRS 9 provisioning and the loss side of loan pricing.",
              "Decisions about individual customers.",
              ("recovery_features",), (V(RET, RIDGE), V(PROD, BOOSTING)),
              processes=("loan-origination",), tags=("credit", "ifrs9", "regulatory")),
    ModelSpec("Mortgage affordability", RB, "Credit Risk Analytics",
              "Flags mortgage applications whose repayments are unlikely to stay affordable under stress.",
              "Second opinion for mortgage underwriters.",
              "Automatic declines; remortgages of existing customers.",
              ("credit_features",), (V(VAL, LOGREG),),
              exposure="customer_facing", automation="human_reviews", processes=("loan-origination",),
              tags=("credit", "mortgages")),
    ModelSpec("Early arrears warning", RB, "Credit Risk Analytics",
              "Predicts which card customers will miss a payment in the next three months.",
              "Prioritises proactive contact by the collections team.",
              "Limit reductions, pricing.",
              ("card_features",), (V(PROD, FOREST), V(VAL, HIST_BOOSTING)),
              processes=("collections",), tags=("credit", "collections")),
    ModelSpec("SME credit scoring", RB, "Credit Risk Analytics",
              "Probability of default for small business loan applicants.",
              "Planned input to the small business lending decision.",
              "Consumer lending, corporate clients.",
              ("credit_features",), (V(DEV, LOGREG),),
              exposure="customer_facing", automation="human_reviews", tags=("credit", "sme"), owner="departed"),
    # --- Retail Banking: Financial Crime Analytics ---
    ModelSpec("AML transaction monitoring", RB, "Financial Crime Analytics",
              "Scores customers' payment behaviour for signs of money laundering.",
              "Raises alerts that investigators review before any report to the FIU.",
              "Automatic account blocking, credit decisions.",
              ("aml_features",), (V(RET, FOREST), V(PROD, HIST_BOOSTING)),
              automation="human_reviews", processes=("aml",), tags=("aml", "regulatory", "financial-crime")),
    ModelSpec("Card payment fraud detection", RB, "Financial Crime Analytics",
              "Scores each card authorisation for the likelihood of fraud.",
              "Real-time block or step-up authentication of card payments.",
              "Chargeback disputes, customer risk ratings.",
              ("authorisation_features",), (V(PROD, HIST_BOOSTING), V(STG, HIST_BOOSTING)),
              exposure="customer_facing", automation="fully_automated", processes=("card-authorisation",),
              tags=("fraud", "real-time", "cards"), serving="endpoint"),
    ModelSpec("Mule account detection", RB, "Financial Crime Analytics",
              "Finds accounts used to move the proceeds of fraud.",
              "Adds accounts to the investigators' review queue.",
              "Account closure without investigation.",
              ("aml_features",), (V(DEV, FOREST), V(VAL, BOOSTING)),
              automation="human_reviews", processes=("aml",), tags=("fraud", "financial-crime")),
    # --- Retail Banking: Customer Analytics ---
    ModelSpec("Churn propensity", RB, "Customer Analytics",
              "Predicts which current-account customers will leave within 90 days.",
              "Selects customers for retention calls and offers.",
              "Pricing, credit decisions, staff targets.",
              ("customer_360",), (V(RET, LOGREG), V(RET, FOREST), V(PROD, BOOSTING)),
              processes=("retention",), tags=("churn", "retention"), owner="departed"),
    ModelSpec("Customer lifetime value", RB, "Customer Analytics",
              "Forecasts a customer's revenue over the next 12 months.",
              "Sizes retention offers and campaign budgets.",
              "Decisions about individual credit or service levels.",
              ("customer_value",), (V(PROD, FOREST),), processes=("retention",), tags=("value", "retention")),
    ModelSpec("Complaint topic classifier", RB, "Customer Analytics",
              "Assigns incoming complaints to one of three resolution teams.",
              "Routing suggestion shown to the complaints desk.",
              "Deciding whether a complaint is upheld.",
              ("crm_interactions",), (V(STG, LOGREG),),
              automation="human_reviews", processes=("complaints",), tags=("nlp", "complaints"),
              serving="endpoint"),
    # --- Insurance: Claims Analytics ---
    ModelSpec("Claims fraud detection", INS, "Claims Analytics",
              "Scores motor claims at first notice of loss for the likelihood of fraud.",
              "Refers suspicious claims to the special investigations unit.",
              "Declining claims without investigation, pricing.",
              ("claims_features",), (V(RET, LOGREG), V(PROD, BOOSTING), V(VAL, HIST_BOOSTING)),
              automation="human_reviews", processes=("motor-claims",), tags=("fraud", "claims", "insurance"),
              serving="endpoint", legacy_runtime=True),
    ModelSpec("Claims triage", INS, "Claims Analytics",
              "Sorts new motor claims into fast-track, standard and complex handling.",
              "Routes claims to the right handling team.",
              "Settlement amounts, fraud decisions.",
              ("claims_text_features",), (V(PROD, FOREST),),
              exposure="customer_facing", automation="human_reviews", processes=("motor-claims",),
              tags=("claims", "nlp", "insurance"), serving="endpoint"),
    ModelSpec("Claims severity estimate", INS, "Claims Analytics",
              "Estimates the final cost of an open claim.",
              "Initial reserves and reserve reviews.",
              "Settlement offers to customers.",
              ("claims_history",), (V(RET, RIDGE), V(PROD, FOREST)),
              processes=("motor-claims",), tags=("claims", "reserving", "insurance")),
    ModelSpec("Subrogation opportunity", INS, "Claims Analytics",
              "Finds paid claims where costs can be recovered from a third party.",
              "Worklist for the recoveries team.",
              "Customer-facing decisions.",
              ("claims_features",), (V(DEV, TREE),), processes=("motor-claims",),
              tags=("claims", "recoveries", "insurance")),
    ModelSpec("Motor damage image triage", INS, "Claims Analytics",
              "Classifies vehicle damage photos as repairable, total loss or needing inspection.",
              "Suggests the next step to the claims handler.",
              "Injury claims, settlement amounts.",
              ("damage_photos",), (V(DEV, LOGREG), V(VAL, FOREST)),
              exposure="customer_facing", automation="human_reviews", processes=("motor-claims",),
              tags=("claims", "computer-vision", "insurance")),
    # --- Insurance: Pricing & Underwriting ---
    ModelSpec("Home insurance risk premium", INS, "Pricing & Underwriting",
              "Predicts the expected claims cost of a home policy.",
              "Risk premium that the rating engine turns into the quoted price.",
              "Commercial property, claims handling.",
              ("pricing_features",), (V(RET, RIDGE), V(PROD, BOOSTING), V(STG, BOOSTING)),
              exposure="customer_facing", automation="fully_automated", processes=("home-pricing",),
              tags=("pricing", "insurance"), serving="endpoint"),
    ModelSpec("Price elasticity", INS, "Pricing & Underwriting",
              "Estimates how the probability of renewal changes with the renewal price.",
              "Scenario analysis for pricing committees.",
              "Individual price optimisation (not allowed under price-walking rules).",
              ("pricing_features",), (V(STG, BOOSTING),), processes=("home-pricing",), tags=("pricing", "insurance")),
    ModelSpec("Underwriting referral", INS, "Pricing & Underwriting",
              "Predicts whether an underwriter would refer a home quote for manual review.",
              "Sends unusual quotes to underwriters before a price is offered.",
              "Declining cover.",
              ("policy_history",), (V(PROD, TREE),),
              automation="human_reviews", processes=("home-pricing",),
              tags=("underwriting", "interpretable", "insurance"), serving="endpoint"),
    ModelSpec("Motor telematics risk score", INS, "Pricing & Underwriting",
              "Scored driving behaviour from black-box trips for the telematics pilot.",
              "Discounts for pilot participants.",
              "Any use after the pilot ended.",
              ("telematics",), (V(RET, FOREST), V(RET, BOOSTING)),
              exposure="customer_facing", automation="fully_automated", tags=("pricing", "telematics", "insurance"),
              retired_because="Telematics pilot ended in June 2024."),
    # --- Marketing: Campaign Science ---
    ModelSpec("Next best offer", MKT, "Campaign Science",
              "Chooses which of three offers (card, savings, insurance) a customer is most likely to accept.",
              "Selects the offer shown in the app and sent by email.",
              "Credit eligibility, pricing.",
              ("offer_features",), (V(RET, LOGREG), V(PROD, FOREST), V(STG, HIST_BOOSTING)),
              exposure="customer_facing", automation="fully_automated", processes=("campaigns",),
              tags=("marketing", "personalisation"), serving="endpoint"),
    ModelSpec("Campaign response propensity", MKT, "Campaign Science",
              "Predicts which customers respond to a savings campaign.",
              "Selects the audience of outbound campaigns.",
              "Credit products, vulnerable customers (excluded upstream).",
              ("customer_360",), (V(RET, LOGREG), V(PROD, BOOSTING)),
              automation="fully_automated", processes=("campaigns",), tags=("marketing", "propensity")),
    ModelSpec("Customer segment classifier", MKT, "Campaign Science",
              "Assigns customers to one of three marketing segments.",
              "Campaign planning and reporting.",
              "Individual offers or prices.",
              ("campaign_responses",), (V(PROD, FOREST),), processes=("campaigns",),
              tags=("marketing", "segmentation")),
    ModelSpec("Email send-time optimisation", MKT, "Campaign Science",
              "Predicts the hour at which a customer is most likely to open an email.",
              "Schedules marketing emails.",
              "Service or legal notices.",
              ("email_engagement",), (V(DEV, RIDGE),), processes=("campaigns",), tags=("marketing", "email")),
    ModelSpec("Lookalike audience model", MKT, "Campaign Science",
              "Found prospects resembling the best customers in third-party audiences.",
              "Paid social campaigns.",
              "Any use without third-party cookies.",
              ("customer_360",), (V(RET, LOGREG),), processes=("campaigns",), tags=("marketing", "advertising"),
              retired_because="Third-party audience data no longer licensed."),
    # --- Marketing: Digital Personalisation ---
    ModelSpec("Homepage banner personalisation", MKT, "Digital Personalisation",
              "Chooses which of three banners a visitor sees on the home page.",
              "Real-time personalisation of the public website.",
              "Credit or insurance offers to logged-out visitors.",
              ("session_features",), (V(PROD, LOGREG), V(STG, FOREST)),
              exposure="public", automation="fully_automated", processes=("web-personalisation",),
              tags=("web", "personalisation"), serving="endpoint"),
    ModelSpec("Product recommendation ranking", MKT, "Digital Personalisation",
              "Ranks product categories for the 'you may also like' carousel.",
              "Ordering of recommendations on product pages.",
              "Email or outbound channels.",
              ("session_features",), (V(VAL, FOREST),),
              exposure="public", automation="fully_automated", processes=("web-personalisation",),
              tags=("web", "recommendations")),
    ModelSpec("Search query intent classifier", MKT, "Digital Personalisation",
              "Maps site-search queries to one of ten intents.",
              "Chooses the results page template and quick links.",
              "Storing intents on customer profiles.",
              ("search_queries",), (V(RET, LOGREG), V(PROD, FOREST)),
              exposure="public", automation="fully_automated", processes=("web-personalisation",),
              tags=("web", "nlp", "search"), serving="endpoint"),
    # --- Operations: Supply Chain Analytics ---
    ModelSpec("Demand forecasting (stores)", OPS, "Supply Chain Analytics",
              "Forecasts next week's unit sales per store and product.",
              "Proposes replenishment orders that planners confirm.",
              "Online orders, staff planning.",
              ("demand_features",), (V(RET, RIDGE), V(PROD, BOOSTING), V(VAL, FOREST)),
              automation="human_reviews", processes=("replenishment",), tags=("forecasting", "supply-chain")),
    ModelSpec("Stock-out risk", OPS, "Supply Chain Analytics",
              "Predicts which store and product pairs run out of stock tomorrow.",
              "Emergency transfers between stores.",
              "Supplier penalties.",
              ("stock_positions",), (V(STG, FOREST),), processes=("replenishment",), tags=("supply-chain",)),
    ModelSpec("Delivery time estimate", OPS, "Supply Chain Analytics",
              "Predicts the delivery time of an online order.",
              "Promised delivery date shown at checkout.",
              "Courier performance management.",
              ("shipments",), (V(PROD, BOOSTING),),
              exposure="public", automation="fully_automated", tags=("logistics",), serving="endpoint"),
    ModelSpec("Supplier risk rating", OPS, "Supply Chain Analytics",
              "Rates suppliers as low, medium or high delivery risk.",
              "Input to sourcing reviews.",
              "Terminating contracts.",
              ("supplier_register",), (V(DEV, LOGREG),), tags=("procurement",)),
    # --- Operations: Document Automation ---
    ModelSpec("Handwritten form reader", OPS, "Document Automation",
              "Reads handwritten digits (account numbers, amounts, dates) on scanned forms.",
              "Pre-fills fields that clerks confirm when confidence is low.",
              "Signatures, free text.",
              ("form_digits",), (V(RET, LOGREG), V(PROD, FOREST)),
              automation="human_reviews", processes=("inbound-documents",), tags=("ocr", "computer-vision")),
    ModelSpec("Document type classifier", OPS, "Document Automation",
              "Recognises which of ten form types a scanned page is.",
              "Routes scanned mail to the right back-office queue.",
              "Legal documents, court orders.",
              ("form_digits",), (V(PROD, LOGREG),),
              automation="fully_automated", processes=("inbound-documents",), tags=("computer-vision",)),
    ModelSpec("Signature presence check", OPS, "Document Automation",
              "Detects whether the signature box of a form is filled.",
              "Returns unsigned forms before processing.",
              "Verifying who signed.",
              ("scanned_forms",), (V(VAL, LOGREG),), processes=("inbound-documents",),
              tags=("computer-vision",)),
    ModelSpec("Contact centre workload forecast", OPS, "Supply Chain Analytics",
              "Forecasts contacts per half hour and queue.",
              "Input to weekly rosters.",
              "Individual performance management.",
              ("contact_volumes",), (V(PROD, RIDGE), V(STG, FOREST)),
              processes=("workforce",), tags=("forecasting", "workforce")),
    # --- Human Resources ---
    ModelSpec("CV screening assistant", HR, "People Analytics",
              "Ranks applicants by how well their skills match the vacancy.",
              "Suggests a shortlist; a recruiter reads every CV before inviting anyone.",
              "Rejecting applicants automatically, internal promotions, salary decisions.",
              ("candidate_features",), (V(RET, LOGREG), V(VAL, TREE)),
              exposure="customer_facing", automation="human_decides", processes=("recruitment",),
              tags=("hiring", "high-risk", "eu-ai-act-annex-iii"),
              retired_because="Version 1 favoured applicants with uninterrupted careers; withdrawn for review."),
    ModelSpec("Employee attrition risk", HR, "People Analytics",
              "Predicts which teams are likely to lose people within a year.",
              "Aggregated team-level view for HR business partners.",
              "Decisions about individual employees.",
              ("attrition_features",), (V(PROD, FOREST),),
              processes=("employee-retention",), tags=("hr", "attrition"), owner="departed"),
    ModelSpec("Internal mobility matcher", HR, "People Analytics",
              "Suggests which of three career tracks suits an employee's profile.",
              "Conversation starter in development reviews.",
              "Promotion or pay decisions.",
              ("employee_records",), (V(DEV, LOGREG),), processes=("employee-retention",), tags=("hr",)),
    ModelSpec("Salary benchmarking", HR, "People Analytics",
              "Estimated market salary for a role, grade and country.",
              "Annual pay review budgets.",
              "Individual offers.",
              ("salary_survey",), (V(RET, RIDGE),), tags=("hr", "pay"),
              retired_because="Replaced by the vendor's own benchmarking tool."),
    # --- Health ---
    ModelSpec("Readmission risk", HEALTH, "Clinical Data Science",
              "Predicts the risk that a patient is readmitted within 30 days of discharge.",
              "Prioritises follow-up calls by discharge nurses.",
              "Discharge timing, treatment decisions, insurance.",
              ("admission_features",), (V(RET, LOGREG), V(PROD, BOOSTING), V(STG, HIST_BOOSTING)),
              processes=("discharge",), tags=("health", "special-category-data")),
    ModelSpec("Diabetes progression forecast", HEALTH, "Clinical Data Science",
              "Forecasts a diabetes patient's disease progression score one year ahead.",
              "Selects patients for the intensive care programme with their GP.",
              "Treatment decisions, insurance.",
              ("diabetes_registry",), (V(PROD, RIDGE), V(VAL, BOOSTING)),
              processes=("diabetes-care",), tags=("health", "special-category-data"), serving="endpoint"),
    ModelSpec("Imaging triage priority", HEALTH, "Clinical Data Science",
              "Suggests a reading priority (urgent, soon, routine) for new imaging studies.",
              "Orders the radiologists' worklist; every study is still read.",
              "Diagnosis.",
              ("imaging_features",), (V(VAL, FOREST),),
              automation="human_reviews", processes=("imaging",), tags=("health", "medical-device")),
    ModelSpec("Sepsis early warning", HEALTH, "Clinical Data Science",
              "Predicts sepsis in the next 12 hours from laboratory results.",
              "Alerts the ward nurse to re-assess the patient.",
              "Diagnosis, antibiotic prescribing.",
              ("lab_results",), (V(DEV, HIST_BOOSTING),), tags=("health", "medical-device")),
    ModelSpec("Tumour malignancy classifier", HEALTH, "Clinical Data Science",
              "Estimates whether a breast lesion on imaging is malignant.",
              "Second reader alongside two radiologists in screening.",
              "Replacing a radiologist, symptomatic patients.",
              ("radiology_studies",), (V(VAL, LOGREG), V(STG, FOREST)),
              automation="human_reviews", processes=("imaging",), tags=("health", "medical-device"),
              serving="endpoint"),
    ModelSpec("Outpatient no-show prediction", HEALTH, "Clinical Data Science",
              "Predicts which patients will miss their outpatient appointment.",
              "Selects patients for a reminder call.",
              "Refusing or deprioritising appointments.",
              ("appointments",), (V(PROD, BOOSTING),), processes=("outpatients",), tags=("health", "scheduling")),
)


# The credit models' classification (apps.demo.compliance), which their use cases propose (apps.demo.intake).
CREDIT = ("high_risk", "essential_services", "provider")
CLASSIFICATIONS = {
    "Retail credit scoring": (*CREDIT, "Annex III (5): it evaluates the creditworthiness of natural persons "
                                       "applying for consumer loans. We build and run it, so we are its provider."),
    "SME credit scoring": (*CREDIT, "Annex III (5) once it scores sole traders, who are natural persons; classified "
                                    "high-risk now, before it is approved."),
    "Credit card limit management": (*CREDIT, "Annex III (5): changing a cardholder's credit limit rests on their "
                                              "creditworthiness."),
    "Card payment fraud detection": ("minimal", "none", "provider",
                                     "Annex III (5)(b) excludes systems used to detect financial fraud."),
}
