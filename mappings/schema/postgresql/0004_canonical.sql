-- Engine migration 4: the canonical HIMS schema (DESIGN.md 6), PostgreSQL 15 dialect.
-- Every table and column, its seed of origin, what feeds it and what changed from the seed:
-- docs/canonical-schema.md. Kept in step with ../sqlite/0004_canonical.sql: same tables, same
-- columns in the same order, same NOT NULLs, CHECK enumerations, unique keys and foreign keys
-- (tests/engine/canonical_schema_test.cpp compares the two catalogs).
-- The engine embeds this file at build time (engine/store_migrations.cpp) and applies it once, in
-- one transaction. Never edit it after a release: a change is a new migration.
-- Ids: the engine generates UUIDs (v4, lower case) itself, as on SQLite; DEFAULT gen_random_uuid()
-- is a convenience for hand-written SQL. Built-in features only: no extension, trigger, partition,
-- row-level security or CONCURRENTLY.

-- users (seed 000): application user accounts (staff and patients who log in); never written from messages.
CREATE TABLE users (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  username VARCHAR(50) NOT NULL UNIQUE,
  email VARCHAR(255) NOT NULL UNIQUE,
  password_hash VARCHAR(255) NOT NULL,
  role VARCHAR(20) NOT NULL
      CHECK (role IN ('admin', 'doctor', 'receptionist', 'nurse', 'pharmacist', 'lab', 'patient', 'finance')),
  first_name VARCHAR(100),
  last_name VARCHAR(100),
  avatar_url VARCHAR(500),
  is_active BOOLEAN DEFAULT true,
  last_login_at TIMESTAMPTZ,
  password_changed_at TIMESTAMPTZ DEFAULT now(),
  mfa_enabled BOOLEAN DEFAULT false,
  mfa_secret VARCHAR(255),
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  CHECK (length(password_hash) >= 60)
);
CREATE INDEX users_role_idx ON users (role);

-- organizations (seed 003): facilities, labs, pharmacies, payers as organizations, clearinghouses.
CREATE TABLE organizations (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  name VARCHAR(255) NOT NULL,
  type VARCHAR(50) NOT NULL,
  tax_id VARCHAR(50),
  address TEXT,
  phone VARCHAR(20),
  email VARCHAR(255),
  is_active BOOLEAN DEFAULT true,
  -- not in the seed's table: added for interoperability (docs/canonical-schema.md)
  npi VARCHAR(10) UNIQUE,
  identifier_system VARCHAR(255),
  identifier_value VARCHAR(100),
  source_message_id BIGINT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  CHECK ((identifier_system IS NULL) = (identifier_value IS NULL))
);
CREATE UNIQUE INDEX organizations_identifier_key ON organizations (identifier_system, identifier_value);

-- healthcare_providers (seed 003): practitioners and facilities that order, attend, diagnose, bill (NPI).
CREATE TABLE healthcare_providers (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  name VARCHAR(255) NOT NULL,
  type VARCHAR(50) NOT NULL CHECK (type IN ('INDIVIDUAL', 'FACILITY')),
  npi VARCHAR(10) UNIQUE,
  tax_id VARCHAR(50),
  specialization VARCHAR(100),
  address TEXT,
  phone VARCHAR(20),
  email VARCHAR(255),
  is_active BOOLEAN DEFAULT true,
  -- not in the seed's table: added for interoperability (docs/canonical-schema.md)
  family_name VARCHAR(100),
  given_name VARCHAR(100),
  identifier_system VARCHAR(255),
  identifier_value VARCHAR(100),
  organization_id UUID REFERENCES organizations (id),
  user_id UUID REFERENCES users (id),
  source_message_id BIGINT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  CHECK ((identifier_system IS NULL) = (identifier_value IS NULL))
);
CREATE UNIQUE INDEX healthcare_providers_identifier_key ON healthcare_providers (identifier_system, identifier_value);
CREATE INDEX healthcare_providers_user_idx ON healthcare_providers (user_id);

-- patients (seed 000): patient demographics; one row per person known to the HIMS (merged rows stay).
CREATE TABLE patients (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  mrn VARCHAR(20) NOT NULL UNIQUE,
  first_name VARCHAR(100) NOT NULL,
  last_name VARCHAR(100) NOT NULL,
  middle_name VARCHAR(100),
  date_of_birth DATE,
  gender VARCHAR(20) CHECK (gender IN ('male', 'female', 'other', 'prefer_not_to_say', 'unknown')),
  ssn VARCHAR(255),
  phone VARCHAR(20),
  email VARCHAR(255),
  address JSONB,
  emergency_contact JSONB,
  insurance_info JSONB,
  preferred_language VARCHAR(10) DEFAULT 'en',
  is_active BOOLEAN DEFAULT true,
  created_by UUID REFERENCES users (id),
  -- not in the seed's table: added for interoperability (docs/canonical-schema.md)
  merged_into_id UUID REFERENCES patients (id),
  merged_at TIMESTAMPTZ,
  source_message_id BIGINT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  CHECK (merged_into_id IS NULL OR merged_into_id <> id),
  CHECK (merged_into_id IS NULL OR NOT is_active)
);
CREATE INDEX patients_name_idx ON patients (last_name, first_name);
CREATE INDEX patients_dob_idx ON patients (date_of_birth);
CREATE INDEX patients_merged_into_idx ON patients (merged_into_id);

-- patient_identifiers (seed new): every identifier a partner uses for a patient (PID-3 repetitions).
CREATE TABLE patient_identifiers (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  patient_id UUID NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  assigning_authority VARCHAR(255) NOT NULL,
  identifier_type VARCHAR(20) NOT NULL DEFAULT '',
  value VARCHAR(100) NOT NULL,
  assigning_facility VARCHAR(255),
  identifier_use VARCHAR(20)
      CHECK (identifier_use IN ('usual', 'official', 'temp', 'secondary', 'old')),
  effective_date DATE,
  expiration_date DATE,
  source_message_id BIGINT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX patient_identifiers_key ON patient_identifiers (assigning_authority, identifier_type, value);
CREATE INDEX patient_identifiers_patient_idx ON patient_identifiers (patient_id);

-- insurance_providers (seed 003): payers (insurance companies, Medicare, Medicaid).
CREATE TABLE insurance_providers (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  name VARCHAR(255) NOT NULL,
  type VARCHAR(50) NOT NULL CHECK (type IN ('PRIVATE', 'MEDICARE', 'MEDICAID', 'OTHER')),
  contact_phone VARCHAR(20),
  contact_email VARCHAR(255),
  website VARCHAR(255),
  coverage_details JSONB,
  is_active BOOLEAN DEFAULT true,
  -- not in the seed's table: added for interoperability (docs/canonical-schema.md)
  payer_id VARCHAR(80) NOT NULL UNIQUE,
  address JSONB,
  source_message_id BIGINT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- patient_insurance (seed 003): a patient's coverages, at most one per priority.
CREATE TABLE patient_insurance (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  patient_id UUID NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  insurance_provider_id UUID REFERENCES insurance_providers (id),
  policy_number VARCHAR(100) NOT NULL,
  group_number VARCHAR(100),
  coverage_type VARCHAR(50) NOT NULL DEFAULT 'primary'
      CHECK (coverage_type IN ('primary', 'secondary', 'tertiary')),
  effective_date DATE,
  expiration_date DATE,
  is_active BOOLEAN DEFAULT true,
  -- not in the seed's table: added for interoperability (docs/canonical-schema.md)
  policy_holder_name VARCHAR(255),
  relationship_to_patient VARCHAR(20)
      CHECK (relationship_to_patient IN ('self', 'spouse', 'child', 'parent', 'other')),
  subscriber JSONB,
  source_message_id BIGINT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX patient_insurance_priority_key ON patient_insurance (patient_id, coverage_type);
CREATE INDEX patient_insurance_provider_idx ON patient_insurance (insurance_provider_id);

-- appointments (seed 000): scheduled appointments.
CREATE TABLE appointments (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  patient_id UUID NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  doctor_id UUID REFERENCES users (id),
  receptionist_id UUID REFERENCES users (id),
  appointment_type VARCHAR(50) NOT NULL,
  scheduled_time TIMESTAMPTZ NOT NULL,
  duration_minutes INTEGER DEFAULT 15 CHECK (duration_minutes BETWEEN 5 AND 480),
  status VARCHAR(20) DEFAULT 'scheduled'
      CHECK (status IN ('scheduled', 'confirmed', 'checked_in', 'in_progress', 'completed', 'cancelled', 'no_show')),
  check_in_time TIMESTAMPTZ,
  start_time TIMESTAMPTZ,
  end_time TIMESTAMPTZ,
  room_number VARCHAR(10),
  notes TEXT,
  cancellation_reason TEXT,
  reminder_sent BOOLEAN DEFAULT false,
  follow_up_required BOOLEAN DEFAULT false,
  -- not in the seed's table: added for interoperability (docs/canonical-schema.md)
  provider_id UUID REFERENCES healthcare_providers (id),
  placer_appointment_id VARCHAR(100) UNIQUE,
  filler_appointment_id VARCHAR(100) UNIQUE,
  source_message_id BIGINT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX appointments_patient_idx ON appointments (patient_id, scheduled_time);
CREATE INDEX appointments_doctor_idx ON appointments (doctor_id, scheduled_time);
CREATE INDEX appointments_provider_idx ON appointments (provider_id, scheduled_time);

-- consultations (seed 000): encounters / visits (the seed's consultation workflow).
CREATE TABLE consultations (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  patient_id UUID NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  doctor_id UUID REFERENCES users (id),
  appointment_id UUID REFERENCES appointments (id),
  workflow_type VARCHAR(20) DEFAULT 'standard' CHECK (workflow_type IN ('standard', 'adaptive')),
  current_step INTEGER DEFAULT 1,
  total_steps INTEGER DEFAULT 5,
  step_data JSONB,
  workflow_state JSONB,
  chief_complaint TEXT,
  started_at TIMESTAMPTZ DEFAULT now(),
  completed_at TIMESTAMPTZ,
  status VARCHAR(20) DEFAULT 'in_progress'
      CHECK (status IN ('in_progress', 'completed', 'cancelled')),
  duration_minutes INTEGER,
  notes TEXT,
  ai_summary TEXT,
  -- not in the seed's table: added for interoperability (docs/canonical-schema.md)
  visit_number VARCHAR(100) UNIQUE,
  attending_provider_id UUID REFERENCES healthcare_providers (id),
  patient_class VARCHAR(1) CHECK (patient_class IN ('E', 'I', 'O', 'P', 'R', 'B', 'C', 'N', 'U')),
  assigned_location VARCHAR(100),
  source_message_id BIGINT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  CHECK (current_step BETWEEN 1 AND total_steps)
);
CREATE INDEX consultations_patient_idx ON consultations (patient_id, started_at);
CREATE INDEX consultations_doctor_idx ON consultations (doctor_id);

-- prescriptions (seed 000): medication orders and their dispensing.
CREATE TABLE prescriptions (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  patient_id UUID NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  doctor_id UUID REFERENCES users (id),
  pharmacist_id UUID REFERENCES users (id),
  consultation_id UUID REFERENCES consultations (id),
  medications JSONB NOT NULL,
  priority VARCHAR(10) DEFAULT 'medium' CHECK (priority IN ('low', 'medium', 'high', 'urgent')),
  status VARCHAR(20) DEFAULT 'pending'
      CHECK (status IN ('pending', 'sent_to_pharmacy', 'processing', 'ready', 'dispensed', 'cancelled')),
  pharmacy_id UUID,
  pickup_deadline TIMESTAMPTZ,
  notes TEXT,
  drug_interactions JSONB,
  allergy_alerts JSONB,
  dispensed_at TIMESTAMPTZ,
  dispensed_by UUID REFERENCES users (id),
  -- not in the seed's table: added for interoperability (docs/canonical-schema.md)
  ordering_provider_id UUID REFERENCES healthcare_providers (id),
  placer_order_number VARCHAR(100) UNIQUE,
  filler_order_number VARCHAR(100) UNIQUE,
  source_message_id BIGINT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  CHECK (pickup_deadline > created_at)
);
CREATE INDEX prescriptions_patient_idx ON prescriptions (patient_id, created_at);
CREATE INDEX prescriptions_status_idx ON prescriptions (status);

-- medical_records (seed 000): allergies, notes, documents and other clinical entries (JSON data).
CREATE TABLE medical_records (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  patient_id UUID NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  record_type VARCHAR(50) NOT NULL
      CHECK (record_type IN ('allergy', 'medication', 'diagnosis', 'procedure', 'vital_signs', 'lab_result', 'imaging', 'note')),
  record_subtype VARCHAR(50),
  data JSONB NOT NULL,
  recorded_by UUID REFERENCES users (id),
  recorded_at TIMESTAMPTZ DEFAULT now(),
  effective_date TIMESTAMPTZ,
  is_active BOOLEAN DEFAULT true,
  is_confidential BOOLEAN DEFAULT false,
  source_system VARCHAR(50),
  external_id VARCHAR(100),
  -- not in the seed's table: added for interoperability (docs/canonical-schema.md)
  author_provider_id UUID REFERENCES healthcare_providers (id),
  document_number VARCHAR(100) UNIQUE,
  source_message_id BIGINT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX medical_records_external_key ON medical_records (patient_id, record_type, external_id);
CREATE INDEX medical_records_patient_idx ON medical_records (patient_id, record_type);

-- lab_orders (seed 000): laboratory orders (OBR); the results are lab_results rows.
CREATE TABLE lab_orders (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  patient_id UUID NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  doctor_id UUID REFERENCES users (id),
  consultation_id UUID REFERENCES consultations (id),
  lab_technician_id UUID REFERENCES users (id),
  test_type VARCHAR(100) NOT NULL,
  test_code VARCHAR(20),
  priority VARCHAR(10) DEFAULT 'routine' CHECK (priority IN ('routine', 'urgent', 'stat')),
  status VARCHAR(20) DEFAULT 'ordered'
      CHECK (status IN ('ordered', 'collected', 'processing', 'completed', 'cancelled')),
  specimen_type VARCHAR(50),
  collection_instructions TEXT,
  ordered_at TIMESTAMPTZ DEFAULT now(),
  collected_at TIMESTAMPTZ,
  collected_by UUID REFERENCES users (id),
  received_at TIMESTAMPTZ,
  completed_at TIMESTAMPTZ,
  results JSONB,
  interpretation TEXT,
  critical_values JSONB,
  notes TEXT,
  external_lab_id VARCHAR(50),
  -- not in the seed's table: added for interoperability (docs/canonical-schema.md)
  ordering_provider_id UUID REFERENCES healthcare_providers (id),
  placer_order_number VARCHAR(100) UNIQUE,
  filler_order_number VARCHAR(100) UNIQUE,
  result_status VARCHAR(1)
      CHECK (result_status IN ('O', 'I', 'S', 'A', 'P', 'C', 'R', 'F', 'X', 'Y', 'Z')),
  performing_organization_id UUID REFERENCES organizations (id),
  source_message_id BIGINT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX lab_orders_patient_idx ON lab_orders (patient_id, ordered_at);
CREATE INDEX lab_orders_status_idx ON lab_orders (status);

-- lab_results (seed 002): one row per result (OBX / Observation) of a lab order.
CREATE TABLE lab_results (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  patient_id UUID NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  consultation_id UUID REFERENCES consultations (id),
  ordered_by UUID REFERENCES users (id),
  test_name VARCHAR(255) NOT NULL,
  test_code VARCHAR(50) NOT NULL,
  test_category VARCHAR(20) NOT NULL DEFAULT 'other'
      CHECK (test_category IN ('blood', 'urine', 'imaging', 'pathology', 'microbiology', 'other')),
  result_value TEXT,
  result_unit VARCHAR(50),
  reference_range VARCHAR(100),
  status VARCHAR(20) DEFAULT 'ordered'
      CHECK (status IN ('ordered', 'in_progress', 'completed', 'cancelled')),
  abnormal_flag VARCHAR(20) DEFAULT 'normal'
      CHECK (abnormal_flag IN ('normal', 'low', 'high', 'critical', 'abnormal')),
  ordered_date DATE,
  collection_date DATE,
  result_date DATE,
  lab_comments TEXT,
  interpretation TEXT,
  -- not in the seed's table: added for interoperability (docs/canonical-schema.md)
  lab_order_id UUID NOT NULL REFERENCES lab_orders (id) ON DELETE CASCADE,
  set_id INTEGER,
  sub_id VARCHAR(20) NOT NULL DEFAULT '',
  test_code_system VARCHAR(50),
  value_type VARCHAR(3),
  abnormal_flag_code VARCHAR(10),
  result_status VARCHAR(1)
      CHECK (result_status IN ('C', 'D', 'F', 'I', 'N', 'O', 'P', 'R', 'S', 'U', 'W', 'X')),
  observed_at TIMESTAMPTZ,
  performer_provider_id UUID REFERENCES healthcare_providers (id),
  source_message_id BIGINT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX lab_results_order_test_key ON lab_results (lab_order_id, test_code, sub_id);
CREATE INDEX lab_results_patient_idx ON lab_results (patient_id, observed_at);

-- vitals (seed 002): vital signs, one row per measurement set (a panel) or per single vital.
CREATE TABLE vitals (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  patient_id UUID NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  consultation_id UUID REFERENCES consultations (id),
  recorded_by UUID REFERENCES users (id),
  recorded_at TIMESTAMPTZ DEFAULT now(),
  systolic_bp INTEGER,
  diastolic_bp INTEGER,
  heart_rate INTEGER,
  respiratory_rate INTEGER,
  temperature NUMERIC(4,1),
  temperature_unit VARCHAR(1) DEFAULT 'F' CHECK (temperature_unit IN ('F', 'C')),
  oxygen_saturation INTEGER,
  weight NUMERIC(5,2),
  weight_unit VARCHAR(3) DEFAULT 'lbs' CHECK (weight_unit IN ('lbs', 'kg')),
  height_feet INTEGER,
  height_inches INTEGER,
  height_cm INTEGER,
  bmi NUMERIC(4,1),
  pain_scale INTEGER CHECK (pain_scale BETWEEN 0 AND 10),
  notes TEXT,
  -- not in the seed's table: added for interoperability (docs/canonical-schema.md)
  code VARCHAR(20) NOT NULL,
  measured_at TIMESTAMPTZ NOT NULL,
  recorded_by_provider_id UUID REFERENCES healthcare_providers (id),
  source_message_id BIGINT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX vitals_measurement_key ON vitals (patient_id, code, measured_at);

-- medical_conditions (seed 002, 003): diagnoses and problems (ICD-10).
CREATE TABLE medical_conditions (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  patient_id UUID NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  consultation_id UUID REFERENCES consultations (id),
  condition_name VARCHAR(255) NOT NULL,
  icd_10_code VARCHAR(20),
  diagnosis_date DATE,
  severity VARCHAR(20) DEFAULT 'moderate'
      CHECK (severity IN ('mild', 'moderate', 'severe', 'critical')),
  status VARCHAR(20) DEFAULT 'active'
      CHECK (status IN ('active', 'resolved', 'chronic', 'in_remission')),
  notes TEXT,
  diagnosed_by UUID REFERENCES users (id),
  diagnosing_provider_id UUID REFERENCES healthcare_providers (id),
  source_message_id BIGINT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX medical_conditions_onset_key ON medical_conditions (patient_id, icd_10_code, diagnosis_date) WHERE diagnosis_date IS NOT NULL;
CREATE UNIQUE INDEX medical_conditions_undated_key ON medical_conditions (patient_id, icd_10_code) WHERE diagnosis_date IS NULL;
CREATE INDEX medical_conditions_icd_idx ON medical_conditions (icd_10_code);

-- billing_records (seed 000): charges and invoices (DFT / FT1).
CREATE TABLE billing_records (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  patient_id UUID NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  consultation_id UUID REFERENCES consultations (id),
  invoice_number VARCHAR(20) UNIQUE,
  bill_date DATE DEFAULT CURRENT_DATE,
  due_date DATE,
  status VARCHAR(20) DEFAULT 'pending'
      CHECK (status IN ('pending', 'sent', 'paid', 'overdue', 'cancelled')),
  charges JSONB NOT NULL,
  adjustments JSONB,
  payments JSONB,
  insurance_claims JSONB,
  total_amount NUMERIC(10,2) NOT NULL,
  paid_amount NUMERIC(10,2) DEFAULT 0,
  balance NUMERIC(10,2) GENERATED ALWAYS AS (total_amount - COALESCE(paid_amount, 0)) STORED,
  payment_plan_id UUID,
  created_by UUID REFERENCES users (id),
  -- not in the seed's table: added for interoperability (docs/canonical-schema.md)
  transaction_id VARCHAR(100) UNIQUE,
  transaction_type VARCHAR(2) CHECK (transaction_type IN ('CG', 'CD', 'PY', 'AJ')),
  source_message_id BIGINT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  CHECK (due_date >= bill_date),
  CHECK (paid_amount <= total_amount)
);
CREATE INDEX billing_records_patient_idx ON billing_records (patient_id);
CREATE INDEX billing_records_status_idx ON billing_records (status);

-- notifications (seed 000): messages to staff; critical lab values create one (DESIGN.md 6).
CREATE TABLE notifications (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  recipient_id UUID REFERENCES users (id),
  sender_id UUID REFERENCES users (id),
  notification_type VARCHAR(50) NOT NULL,
  title VARCHAR(200) NOT NULL,
  message TEXT,
  priority VARCHAR(10) DEFAULT 'medium' CHECK (priority IN ('low', 'medium', 'high', 'urgent')),
  category VARCHAR(30)
      CHECK (category IN ('medication', 'appointment', 'lab', 'patient', 'system', 'inventory', 'billing')),
  is_read BOOLEAN DEFAULT false,
  read_at TIMESTAMPTZ,
  action_url VARCHAR(500),
  action_taken BOOLEAN DEFAULT false,
  expires_at TIMESTAMPTZ,
  -- not in the seed's table: added for interoperability (docs/canonical-schema.md)
  recipient_provider_id UUID REFERENCES healthcare_providers (id),
  patient_id UUID REFERENCES patients (id) ON DELETE CASCADE,
  dedupe_key VARCHAR(255) UNIQUE,
  source_message_id BIGINT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX notifications_recipient_idx ON notifications (recipient_id, is_read);
CREATE INDEX notifications_provider_idx ON notifications (recipient_provider_id);

-- eligibility_requests (seed 003): insurance eligibility / verification requests (the seed's ivr_requests).
CREATE TABLE eligibility_requests (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  ivr_number VARCHAR(50) NOT NULL UNIQUE,
  patient_id UUID REFERENCES patients (id) ON DELETE CASCADE,
  doctor_id UUID REFERENCES healthcare_providers (id),
  submitter_id UUID REFERENCES users (id),
  insurance_provider VARCHAR(255) NOT NULL,
  policy_number VARCHAR(100),
  group_number VARCHAR(100),
  coverage_type VARCHAR(50) DEFAULT 'Primary',
  diagnosis_code VARCHAR(20),
  treatment_plan TEXT,
  medical_necessity TEXT,
  status VARCHAR(50) DEFAULT 'pending_review'
      CHECK (status IN ('pending_review', 'in_review', 'approved', 'rejected', 'awaiting_documents', 'escalated')),
  priority VARCHAR(20) DEFAULT 'medium' CHECK (priority IN ('low', 'medium', 'high', 'critical')),
  approved_by UUID REFERENCES users (id),
  approved_at TIMESTAMPTZ,
  coverage_percentage NUMERIC(5,2),
  deductible_amount NUMERIC(10,2),
  copay_amount NUMERIC(10,2),
  out_of_pocket_max NUMERIC(10,2),
  coverage_notes TEXT,
  rejected_by UUID REFERENCES users (id),
  rejected_at TIMESTAMPTZ,
  rejection_reason VARCHAR(100),
  rejection_notes TEXT,
  document_request_by UUID REFERENCES users (id),
  document_request_at TIMESTAMPTZ,
  document_types TEXT[],
  document_deadline DATE,
  document_request_notes TEXT,
  submitted_at TIMESTAMPTZ DEFAULT now(),
  -- not in the seed's table: added for interoperability (docs/canonical-schema.md)
  trace_number VARCHAR(50) UNIQUE,
  insurance_provider_id UUID REFERENCES insurance_providers (id),
  patient_insurance_id UUID REFERENCES patient_insurance (id),
  service_type_codes JSONB CHECK (jsonb_typeof(service_type_codes) = 'array'),
  response JSONB,
  responded_at TIMESTAMPTZ,
  source_message_id BIGINT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX eligibility_requests_patient_idx ON eligibility_requests (patient_id);
CREATE INDEX eligibility_requests_status_idx ON eligibility_requests (status);

-- claims (seed 004): insurance claims (837P / 837I) and their adjudication (835).
CREATE TABLE claims (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  patient_id UUID NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  patient_insurance_id UUID REFERENCES patient_insurance (id),
  insurance_provider_id UUID REFERENCES insurance_providers (id),
  billing_provider_id UUID REFERENCES healthcare_providers (id),
  rendering_provider_id UUID REFERENCES healthcare_providers (id),
  consultation_id UUID REFERENCES consultations (id),
  billing_record_id UUID REFERENCES billing_records (id),
  claim_type VARCHAR(20) NOT NULL CHECK (claim_type IN ('professional', 'institutional')),
  submitter_id VARCHAR(80) NOT NULL,
  patient_control_number VARCHAR(38) NOT NULL,
  payer_claim_control_number VARCHAR(50),
  claim_frequency_code VARCHAR(1) DEFAULT '1',
  facility_code VARCHAR(2),
  total_charge NUMERIC(12,2) NOT NULL,
  paid_amount NUMERIC(12,2) NOT NULL DEFAULT 0,
  patient_responsibility NUMERIC(12,2),
  status VARCHAR(20) NOT NULL DEFAULT 'draft'
      CHECK (status IN ('draft', 'submitted', 'accepted', 'rejected', 'pending', 'paid', 'partially_paid', 'denied', 'reversed', 'void')),
  payer_claim_status VARCHAR(2),
  service_date_from DATE,
  service_date_to DATE,
  diagnosis_codes JSONB CHECK (jsonb_typeof(diagnosis_codes) = 'array'),
  group_control_number VARCHAR(9),
  transaction_set_control_number VARCHAR(9),
  submitted_at TIMESTAMPTZ,
  adjudicated_at TIMESTAMPTZ,
  source_message_id BIGINT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX claims_control_number_key ON claims (submitter_id, patient_control_number);
CREATE INDEX claims_patient_idx ON claims (patient_id);
CREATE INDEX claims_payer_control_idx ON claims (payer_claim_control_number);

-- claim_items (seed 004): service lines of a claim (LX loop).
CREATE TABLE claim_items (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  claim_id UUID NOT NULL REFERENCES claims (id) ON DELETE CASCADE,
  line_number INTEGER NOT NULL,
  procedure_code_qualifier VARCHAR(2) NOT NULL DEFAULT 'HC',
  procedure_code VARCHAR(48) NOT NULL,
  modifiers JSONB CHECK (jsonb_typeof(modifiers) = 'array'),
  revenue_code VARCHAR(4),
  charge_amount NUMERIC(12,2) NOT NULL,
  unit_code VARCHAR(2) DEFAULT 'UN',
  units NUMERIC(10,3),
  place_of_service VARCHAR(2),
  diagnosis_pointers JSONB CHECK (jsonb_typeof(diagnosis_pointers) = 'array'),
  service_date_from DATE,
  service_date_to DATE,
  line_item_control_number VARCHAR(50),
  paid_amount NUMERIC(12,2),
  source_message_id BIGINT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX claim_items_line_key ON claim_items (claim_id, line_number);
CREATE UNIQUE INDEX claim_items_control_number_key ON claim_items (claim_id, line_item_control_number);

-- payments (seed 004): money received: payer remittances (835) and patient payments.
CREATE TABLE payments (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  payer_type VARCHAR(20) NOT NULL DEFAULT 'insurer'
      CHECK (payer_type IN ('insurer', 'patient', 'other')),
  insurance_provider_id UUID REFERENCES insurance_providers (id),
  patient_id UUID REFERENCES patients (id) ON DELETE CASCADE,
  payee_provider_id UUID REFERENCES healthcare_providers (id),
  trace_number VARCHAR(50),
  payer_identifier VARCHAR(50),
  amount NUMERIC(12,2) NOT NULL,
  payment_method VARCHAR(10)
      CHECK (payment_method IN ('ach', 'check', 'wire', 'card', 'cash', 'none', 'other')),
  transaction_handling_code VARCHAR(2),
  payment_date DATE,
  status VARCHAR(20) NOT NULL DEFAULT 'received'
      CHECK (status IN ('received', 'posted', 'reversed', 'void')),
  notes TEXT,
  source_message_id BIGINT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX payments_trace_key ON payments (payer_identifier, trace_number);
CREATE INDEX payments_patient_idx ON payments (patient_id);

-- payment_allocations (seed 004): how a payment is applied: paid amounts and adjustments per claim and line.
CREATE TABLE payment_allocations (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  payment_id UUID NOT NULL REFERENCES payments (id) ON DELETE CASCADE,
  line_number INTEGER NOT NULL,
  allocation_type VARCHAR(20) NOT NULL
      CHECK (allocation_type IN ('payment', 'adjustment', 'provider_adjustment')),
  claim_id UUID REFERENCES claims (id),
  claim_item_id UUID REFERENCES claim_items (id),
  billing_record_id UUID REFERENCES billing_records (id),
  amount NUMERIC(12,2) NOT NULL,
  adjustment_group_code VARCHAR(2) CHECK (adjustment_group_code IN ('CO', 'CR', 'OA', 'PI', 'PR')),
  adjustment_reason_code VARCHAR(5),
  adjustment_quantity NUMERIC(10,3),
  remark_codes JSONB CHECK (jsonb_typeof(remark_codes) = 'array'),
  source_message_id BIGINT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  CHECK (allocation_type <> 'adjustment' OR adjustment_group_code IS NOT NULL)
);
CREATE UNIQUE INDEX payment_allocations_line_key ON payment_allocations (payment_id, line_number);
CREATE INDEX payment_allocations_claim_idx ON payment_allocations (claim_id);

-- domain_events (seed 004): one row per canonical change, for outbound routes and history (append-only).
CREATE TABLE domain_events (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  event_type VARCHAR(100) NOT NULL,
  entity_type VARCHAR(50) NOT NULL,
  entity_id UUID NOT NULL,
  correlation_id BIGINT,
  causation_id UUID REFERENCES domain_events (id),
  payload JSONB NOT NULL,
  occurred_at TIMESTAMPTZ NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX domain_events_entity_idx ON domain_events (entity_type, entity_id);
CREATE INDEX domain_events_correlation_idx ON domain_events (correlation_id);
CREATE INDEX domain_events_occurred_idx ON domain_events (occurred_at);

-- audit_log (seed 000): who changed what (the seed's audit trail; append-only).
CREATE TABLE audit_log (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id UUID REFERENCES users (id),
  patient_id UUID REFERENCES patients (id),
  action VARCHAR(100) NOT NULL,
  resource_type VARCHAR(50) NOT NULL,
  resource_id UUID,
  old_values JSONB,
  new_values JSONB,
  ip_address INET,
  user_agent TEXT,
  session_id VARCHAR(255),
  timestamp TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_patient_idx ON audit_log (patient_id);
CREATE INDEX audit_log_resource_idx ON audit_log (resource_type, resource_id);
CREATE INDEX audit_log_timestamp_idx ON audit_log (timestamp);

-- data_access_logs (seed 004): every read of PHI through the API (append-only).
CREATE TABLE data_access_logs (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id UUID REFERENCES users (id),
  client_id VARCHAR(255),
  patient_id UUID REFERENCES patients (id),
  resource_type VARCHAR(50) NOT NULL,
  resource_id VARCHAR(64),
  action VARCHAR(20) NOT NULL CHECK (action IN ('read', 'vread', 'search', 'history', 'export')),
  search_parameters TEXT,
  result_count INTEGER,
  contains_phi BOOLEAN NOT NULL DEFAULT true,
  justification TEXT,
  ip_address INET,
  user_agent TEXT,
  request_id VARCHAR(100),
  accessed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX data_access_logs_patient_idx ON data_access_logs (patient_id, accessed_at);
CREATE INDEX data_access_logs_user_idx ON data_access_logs (user_id, accessed_at);

-- system_config (seed 000): HIMS settings (key -> JSON value).
CREATE TABLE system_config (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  config_key VARCHAR(100) NOT NULL UNIQUE,
  config_value JSONB NOT NULL,
  description TEXT,
  is_encrypted BOOLEAN DEFAULT false,
  modified_by UUID REFERENCES users (id),
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
