-- Engine migration 4: the canonical HIMS schema (DESIGN.md 6), SQLite dialect.
-- Every table and column, its seed of origin, what feeds it and what changed from the seed:
-- docs/canonical-schema.md. Kept in step with ../postgresql/0004_canonical.sql: same tables, same
-- columns in the same order, same NOT NULLs, CHECK enumerations, unique keys and foreign keys
-- (tests/engine/canonical_schema_test.cpp compares the two catalogs).
-- The engine embeds this file at build time (engine/store_migrations.cpp) and applies it once, in
-- one transaction, on connections with foreign_keys=ON. Never edit it after a release: a change is
-- a new migration.
-- Types for PostgreSQL's: UUID -> TEXT, lower case 8-4-4-4-12 (checked on primary keys); JSONB
-- and arrays -> TEXT holding JSON (checked with json_valid, arrays with json_type); TIMESTAMPTZ ->
-- TEXT 'YYYY-MM-DDTHH:MM:SS.ffffffZ' in UTC, always this form, so that text order is time order
-- and natural keys with a time match; DATE -> TEXT 'YYYY-MM-DD'; BOOLEAN -> INTEGER 0/1;
-- NUMERIC(p,s) -> NUMERIC; VARCHAR(n) -> TEXT (lengths are enforced on PostgreSQL only).
-- Needs SQLite 3.38+ (JSON functions built in; generated columns, upsert and TRUE/FALSE are older).

-- users (seed 000): application user accounts (staff and patients who log in); never written from messages.
CREATE TABLE users (
  id TEXT NOT NULL PRIMARY KEY CHECK (length(id) = 36 AND id = lower(id)),
  username TEXT NOT NULL UNIQUE,
  email TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  role TEXT NOT NULL
      CHECK (role IN ('admin', 'doctor', 'receptionist', 'nurse', 'pharmacist', 'lab', 'patient', 'finance')),
  first_name TEXT,
  last_name TEXT,
  avatar_url TEXT,
  is_active INTEGER DEFAULT 1 CHECK (is_active IN (0, 1)),
  last_login_at TEXT,
  password_changed_at TEXT DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
  mfa_enabled INTEGER DEFAULT 0 CHECK (mfa_enabled IN (0, 1)),
  mfa_secret TEXT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
  CHECK (length(password_hash) >= 60)
);
CREATE INDEX users_role_idx ON users (role);

-- organizations (seed 003): facilities, labs, pharmacies, payers as organizations, clearinghouses.
CREATE TABLE organizations (
  id TEXT NOT NULL PRIMARY KEY CHECK (length(id) = 36 AND id = lower(id)),
  name TEXT NOT NULL,
  type TEXT NOT NULL,
  tax_id TEXT,
  address TEXT,
  phone TEXT,
  email TEXT,
  is_active INTEGER DEFAULT 1 CHECK (is_active IN (0, 1)),
  -- not in the seed's table: added for interoperability (docs/canonical-schema.md)
  npi TEXT UNIQUE,
  identifier_system TEXT,
  identifier_value TEXT,
  source_message_id BIGINT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
  CHECK ((identifier_system IS NULL) = (identifier_value IS NULL))
);
CREATE UNIQUE INDEX organizations_identifier_key ON organizations (identifier_system, identifier_value);

-- healthcare_providers (seed 003): practitioners and facilities that order, attend, diagnose, bill (NPI).
CREATE TABLE healthcare_providers (
  id TEXT NOT NULL PRIMARY KEY CHECK (length(id) = 36 AND id = lower(id)),
  name TEXT NOT NULL,
  type TEXT NOT NULL CHECK (type IN ('INDIVIDUAL', 'FACILITY')),
  npi TEXT UNIQUE,
  tax_id TEXT,
  specialization TEXT,
  address TEXT,
  phone TEXT,
  email TEXT,
  is_active INTEGER DEFAULT 1 CHECK (is_active IN (0, 1)),
  -- not in the seed's table: added for interoperability (docs/canonical-schema.md)
  family_name TEXT,
  given_name TEXT,
  identifier_system TEXT,
  identifier_value TEXT,
  organization_id TEXT REFERENCES organizations (id),
  user_id TEXT REFERENCES users (id),
  source_message_id BIGINT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
  CHECK ((identifier_system IS NULL) = (identifier_value IS NULL))
);
CREATE UNIQUE INDEX healthcare_providers_identifier_key ON healthcare_providers (identifier_system, identifier_value);
CREATE INDEX healthcare_providers_user_idx ON healthcare_providers (user_id);

-- patients (seed 000): patient demographics; one row per person known to the HIMS (merged rows stay).
CREATE TABLE patients (
  id TEXT NOT NULL PRIMARY KEY CHECK (length(id) = 36 AND id = lower(id)),
  mrn TEXT NOT NULL UNIQUE,
  first_name TEXT NOT NULL,
  last_name TEXT NOT NULL,
  middle_name TEXT,
  date_of_birth TEXT,
  gender TEXT CHECK (gender IN ('male', 'female', 'other', 'prefer_not_to_say', 'unknown')),
  ssn TEXT,
  phone TEXT,
  email TEXT,
  address TEXT CHECK (address IS NULL OR json_valid(address)),
  emergency_contact TEXT CHECK (emergency_contact IS NULL OR json_valid(emergency_contact)),
  insurance_info TEXT CHECK (insurance_info IS NULL OR json_valid(insurance_info)),
  preferred_language TEXT DEFAULT 'en',
  is_active INTEGER DEFAULT 1 CHECK (is_active IN (0, 1)),
  created_by TEXT REFERENCES users (id),
  -- not in the seed's table: added for interoperability (docs/canonical-schema.md)
  merged_into_id TEXT REFERENCES patients (id),
  merged_at TEXT,
  source_message_id BIGINT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
  CHECK (merged_into_id IS NULL OR merged_into_id <> id),
  CHECK (merged_into_id IS NULL OR NOT is_active)
);
CREATE INDEX patients_name_idx ON patients (last_name, first_name);
CREATE INDEX patients_dob_idx ON patients (date_of_birth);
CREATE INDEX patients_merged_into_idx ON patients (merged_into_id);

-- patient_identifiers (seed new): every identifier a partner uses for a patient (PID-3 repetitions).
CREATE TABLE patient_identifiers (
  id TEXT NOT NULL PRIMARY KEY CHECK (length(id) = 36 AND id = lower(id)),
  patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  assigning_authority TEXT NOT NULL,
  identifier_type TEXT NOT NULL DEFAULT '',
  value TEXT NOT NULL,
  assigning_facility TEXT,
  identifier_use TEXT CHECK (identifier_use IN ('usual', 'official', 'temp', 'secondary', 'old')),
  effective_date TEXT,
  expiration_date TEXT,
  source_message_id BIGINT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'))
);
CREATE UNIQUE INDEX patient_identifiers_key ON patient_identifiers (assigning_authority, identifier_type, value);
CREATE INDEX patient_identifiers_patient_idx ON patient_identifiers (patient_id);

-- insurance_providers (seed 003): payers (insurance companies, Medicare, Medicaid).
CREATE TABLE insurance_providers (
  id TEXT NOT NULL PRIMARY KEY CHECK (length(id) = 36 AND id = lower(id)),
  name TEXT NOT NULL,
  type TEXT NOT NULL CHECK (type IN ('PRIVATE', 'MEDICARE', 'MEDICAID', 'OTHER')),
  contact_phone TEXT,
  contact_email TEXT,
  website TEXT,
  coverage_details TEXT CHECK (coverage_details IS NULL OR json_valid(coverage_details)),
  is_active INTEGER DEFAULT 1 CHECK (is_active IN (0, 1)),
  -- not in the seed's table: added for interoperability (docs/canonical-schema.md)
  payer_id TEXT NOT NULL UNIQUE,
  address TEXT CHECK (address IS NULL OR json_valid(address)),
  source_message_id BIGINT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'))
);

-- patient_insurance (seed 003): a patient's coverages, at most one per priority.
CREATE TABLE patient_insurance (
  id TEXT NOT NULL PRIMARY KEY CHECK (length(id) = 36 AND id = lower(id)),
  patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  insurance_provider_id TEXT REFERENCES insurance_providers (id),
  policy_number TEXT NOT NULL,
  group_number TEXT,
  coverage_type TEXT NOT NULL DEFAULT 'primary'
      CHECK (coverage_type IN ('primary', 'secondary', 'tertiary')),
  effective_date TEXT,
  expiration_date TEXT,
  is_active INTEGER DEFAULT 1 CHECK (is_active IN (0, 1)),
  -- not in the seed's table: added for interoperability (docs/canonical-schema.md)
  policy_holder_name TEXT,
  relationship_to_patient TEXT
      CHECK (relationship_to_patient IN ('self', 'spouse', 'child', 'parent', 'other')),
  subscriber TEXT CHECK (subscriber IS NULL OR json_valid(subscriber)),
  source_message_id BIGINT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'))
);
CREATE UNIQUE INDEX patient_insurance_priority_key ON patient_insurance (patient_id, coverage_type);
CREATE INDEX patient_insurance_provider_idx ON patient_insurance (insurance_provider_id);

-- appointments (seed 000): scheduled appointments.
CREATE TABLE appointments (
  id TEXT NOT NULL PRIMARY KEY CHECK (length(id) = 36 AND id = lower(id)),
  patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  doctor_id TEXT REFERENCES users (id),
  receptionist_id TEXT REFERENCES users (id),
  appointment_type TEXT NOT NULL,
  scheduled_time TEXT NOT NULL,
  duration_minutes INTEGER DEFAULT 15 CHECK (duration_minutes BETWEEN 5 AND 480),
  status TEXT DEFAULT 'scheduled'
      CHECK (status IN ('scheduled', 'confirmed', 'checked_in', 'in_progress', 'completed', 'cancelled', 'no_show')),
  check_in_time TEXT,
  start_time TEXT,
  end_time TEXT,
  room_number TEXT,
  notes TEXT,
  cancellation_reason TEXT,
  reminder_sent INTEGER DEFAULT 0 CHECK (reminder_sent IN (0, 1)),
  follow_up_required INTEGER DEFAULT 0 CHECK (follow_up_required IN (0, 1)),
  -- not in the seed's table: added for interoperability (docs/canonical-schema.md)
  provider_id TEXT REFERENCES healthcare_providers (id),
  placer_appointment_id TEXT UNIQUE,
  filler_appointment_id TEXT UNIQUE,
  source_message_id BIGINT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'))
);
CREATE INDEX appointments_patient_idx ON appointments (patient_id, scheduled_time);
CREATE INDEX appointments_doctor_idx ON appointments (doctor_id, scheduled_time);
CREATE INDEX appointments_provider_idx ON appointments (provider_id, scheduled_time);

-- consultations (seed 000): encounters / visits (the seed's consultation workflow).
CREATE TABLE consultations (
  id TEXT NOT NULL PRIMARY KEY CHECK (length(id) = 36 AND id = lower(id)),
  patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  doctor_id TEXT REFERENCES users (id),
  appointment_id TEXT REFERENCES appointments (id),
  workflow_type TEXT DEFAULT 'standard' CHECK (workflow_type IN ('standard', 'adaptive')),
  current_step INTEGER DEFAULT 1,
  total_steps INTEGER DEFAULT 5,
  step_data TEXT CHECK (step_data IS NULL OR json_valid(step_data)),
  workflow_state TEXT CHECK (workflow_state IS NULL OR json_valid(workflow_state)),
  chief_complaint TEXT,
  started_at TEXT DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
  completed_at TEXT,
  status TEXT DEFAULT 'in_progress' CHECK (status IN ('in_progress', 'completed', 'cancelled')),
  duration_minutes INTEGER,
  notes TEXT,
  ai_summary TEXT,
  -- not in the seed's table: added for interoperability (docs/canonical-schema.md)
  visit_number TEXT UNIQUE,
  attending_provider_id TEXT REFERENCES healthcare_providers (id),
  patient_class TEXT CHECK (patient_class IN ('E', 'I', 'O', 'P', 'R', 'B', 'C', 'N', 'U')),
  assigned_location TEXT,
  source_message_id BIGINT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
  CHECK (current_step BETWEEN 1 AND total_steps)
);
CREATE INDEX consultations_patient_idx ON consultations (patient_id, started_at);
CREATE INDEX consultations_doctor_idx ON consultations (doctor_id);

-- prescriptions (seed 000): medication orders and their dispensing.
CREATE TABLE prescriptions (
  id TEXT NOT NULL PRIMARY KEY CHECK (length(id) = 36 AND id = lower(id)),
  patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  doctor_id TEXT REFERENCES users (id),
  pharmacist_id TEXT REFERENCES users (id),
  consultation_id TEXT REFERENCES consultations (id),
  medications TEXT NOT NULL CHECK (medications IS NULL OR json_valid(medications)),
  priority TEXT DEFAULT 'medium' CHECK (priority IN ('low', 'medium', 'high', 'urgent')),
  status TEXT DEFAULT 'pending'
      CHECK (status IN ('pending', 'sent_to_pharmacy', 'processing', 'ready', 'dispensed', 'cancelled')),
  pharmacy_id TEXT,
  pickup_deadline TEXT,
  notes TEXT,
  drug_interactions TEXT CHECK (drug_interactions IS NULL OR json_valid(drug_interactions)),
  allergy_alerts TEXT CHECK (allergy_alerts IS NULL OR json_valid(allergy_alerts)),
  dispensed_at TEXT,
  dispensed_by TEXT REFERENCES users (id),
  -- not in the seed's table: added for interoperability (docs/canonical-schema.md)
  ordering_provider_id TEXT REFERENCES healthcare_providers (id),
  placer_order_number TEXT UNIQUE,
  filler_order_number TEXT UNIQUE,
  source_message_id BIGINT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
  CHECK (pickup_deadline > created_at)
);
CREATE INDEX prescriptions_patient_idx ON prescriptions (patient_id, created_at);
CREATE INDEX prescriptions_status_idx ON prescriptions (status);

-- medical_records (seed 000): allergies, notes, documents and other clinical entries (JSON data).
CREATE TABLE medical_records (
  id TEXT NOT NULL PRIMARY KEY CHECK (length(id) = 36 AND id = lower(id)),
  patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  record_type TEXT NOT NULL
      CHECK (record_type IN ('allergy', 'medication', 'diagnosis', 'procedure', 'vital_signs', 'lab_result', 'imaging', 'note')),
  record_subtype TEXT,
  data TEXT NOT NULL CHECK (data IS NULL OR json_valid(data)),
  recorded_by TEXT REFERENCES users (id),
  recorded_at TEXT DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
  effective_date TEXT,
  is_active INTEGER DEFAULT 1 CHECK (is_active IN (0, 1)),
  is_confidential INTEGER DEFAULT 0 CHECK (is_confidential IN (0, 1)),
  source_system TEXT,
  external_id TEXT,
  -- not in the seed's table: added for interoperability (docs/canonical-schema.md)
  author_provider_id TEXT REFERENCES healthcare_providers (id),
  document_number TEXT UNIQUE,
  source_message_id BIGINT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'))
);
CREATE UNIQUE INDEX medical_records_external_key ON medical_records (patient_id, record_type, external_id);
CREATE INDEX medical_records_patient_idx ON medical_records (patient_id, record_type);

-- lab_orders (seed 000): laboratory orders (OBR); the results are lab_results rows.
CREATE TABLE lab_orders (
  id TEXT NOT NULL PRIMARY KEY CHECK (length(id) = 36 AND id = lower(id)),
  patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  doctor_id TEXT REFERENCES users (id),
  consultation_id TEXT REFERENCES consultations (id),
  lab_technician_id TEXT REFERENCES users (id),
  test_type TEXT NOT NULL,
  test_code TEXT,
  priority TEXT DEFAULT 'routine' CHECK (priority IN ('routine', 'urgent', 'stat')),
  status TEXT DEFAULT 'ordered'
      CHECK (status IN ('ordered', 'collected', 'processing', 'completed', 'cancelled')),
  specimen_type TEXT,
  collection_instructions TEXT,
  ordered_at TEXT DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
  collected_at TEXT,
  collected_by TEXT REFERENCES users (id),
  received_at TEXT,
  completed_at TEXT,
  results TEXT CHECK (results IS NULL OR json_valid(results)),
  interpretation TEXT,
  critical_values TEXT CHECK (critical_values IS NULL OR json_valid(critical_values)),
  notes TEXT,
  external_lab_id TEXT,
  -- not in the seed's table: added for interoperability (docs/canonical-schema.md)
  ordering_provider_id TEXT REFERENCES healthcare_providers (id),
  placer_order_number TEXT UNIQUE,
  filler_order_number TEXT UNIQUE,
  result_status TEXT
      CHECK (result_status IN ('O', 'I', 'S', 'A', 'P', 'C', 'R', 'F', 'X', 'Y', 'Z')),
  performing_organization_id TEXT REFERENCES organizations (id),
  source_message_id BIGINT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'))
);
CREATE INDEX lab_orders_patient_idx ON lab_orders (patient_id, ordered_at);
CREATE INDEX lab_orders_status_idx ON lab_orders (status);

-- lab_results (seed 002): one row per result (OBX / Observation) of a lab order.
CREATE TABLE lab_results (
  id TEXT NOT NULL PRIMARY KEY CHECK (length(id) = 36 AND id = lower(id)),
  patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  consultation_id TEXT REFERENCES consultations (id),
  ordered_by TEXT REFERENCES users (id),
  test_name TEXT NOT NULL,
  test_code TEXT NOT NULL,
  test_category TEXT NOT NULL DEFAULT 'other'
      CHECK (test_category IN ('blood', 'urine', 'imaging', 'pathology', 'microbiology', 'other')),
  result_value TEXT,
  result_unit TEXT,
  reference_range TEXT,
  status TEXT DEFAULT 'ordered'
      CHECK (status IN ('ordered', 'in_progress', 'completed', 'cancelled')),
  abnormal_flag TEXT DEFAULT 'normal'
      CHECK (abnormal_flag IN ('normal', 'low', 'high', 'critical', 'abnormal')),
  ordered_date TEXT,
  collection_date TEXT,
  result_date TEXT,
  lab_comments TEXT,
  interpretation TEXT,
  -- not in the seed's table: added for interoperability (docs/canonical-schema.md)
  lab_order_id TEXT NOT NULL REFERENCES lab_orders (id) ON DELETE CASCADE,
  set_id INTEGER,
  sub_id TEXT NOT NULL DEFAULT '',
  test_code_system TEXT,
  value_type TEXT,
  abnormal_flag_code TEXT,
  result_status TEXT
      CHECK (result_status IN ('C', 'D', 'F', 'I', 'N', 'O', 'P', 'R', 'S', 'U', 'W', 'X')),
  observed_at TEXT,
  performer_provider_id TEXT REFERENCES healthcare_providers (id),
  source_message_id BIGINT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'))
);
CREATE UNIQUE INDEX lab_results_order_test_key ON lab_results (lab_order_id, test_code, sub_id);
CREATE INDEX lab_results_patient_idx ON lab_results (patient_id, observed_at);

-- vitals (seed 002): vital signs, one row per measurement set (a panel) or per single vital.
CREATE TABLE vitals (
  id TEXT NOT NULL PRIMARY KEY CHECK (length(id) = 36 AND id = lower(id)),
  patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  consultation_id TEXT REFERENCES consultations (id),
  recorded_by TEXT REFERENCES users (id),
  recorded_at TEXT DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
  systolic_bp INTEGER,
  diastolic_bp INTEGER,
  heart_rate INTEGER,
  respiratory_rate INTEGER,
  temperature NUMERIC,
  temperature_unit TEXT DEFAULT 'F' CHECK (temperature_unit IN ('F', 'C')),
  oxygen_saturation INTEGER,
  weight NUMERIC,
  weight_unit TEXT DEFAULT 'lbs' CHECK (weight_unit IN ('lbs', 'kg')),
  height_feet INTEGER,
  height_inches INTEGER,
  height_cm INTEGER,
  bmi NUMERIC,
  pain_scale INTEGER CHECK (pain_scale BETWEEN 0 AND 10),
  notes TEXT,
  -- not in the seed's table: added for interoperability (docs/canonical-schema.md)
  code TEXT NOT NULL,
  measured_at TEXT NOT NULL,
  recorded_by_provider_id TEXT REFERENCES healthcare_providers (id),
  source_message_id BIGINT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'))
);
CREATE UNIQUE INDEX vitals_measurement_key ON vitals (patient_id, code, measured_at);

-- medical_conditions (seed 002, 003): diagnoses and problems (ICD-10).
CREATE TABLE medical_conditions (
  id TEXT NOT NULL PRIMARY KEY CHECK (length(id) = 36 AND id = lower(id)),
  patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  consultation_id TEXT REFERENCES consultations (id),
  condition_name TEXT NOT NULL,
  icd_10_code TEXT,
  diagnosis_date TEXT,
  severity TEXT DEFAULT 'moderate' CHECK (severity IN ('mild', 'moderate', 'severe', 'critical')),
  status TEXT DEFAULT 'active' CHECK (status IN ('active', 'resolved', 'chronic', 'in_remission')),
  notes TEXT,
  diagnosed_by TEXT REFERENCES users (id),
  diagnosing_provider_id TEXT REFERENCES healthcare_providers (id),
  source_message_id BIGINT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'))
);
CREATE UNIQUE INDEX medical_conditions_onset_key ON medical_conditions (patient_id, icd_10_code, diagnosis_date) WHERE diagnosis_date IS NOT NULL;
CREATE UNIQUE INDEX medical_conditions_undated_key ON medical_conditions (patient_id, icd_10_code) WHERE diagnosis_date IS NULL;
CREATE INDEX medical_conditions_icd_idx ON medical_conditions (icd_10_code);

-- billing_records (seed 000): charges and invoices (DFT / FT1).
CREATE TABLE billing_records (
  id TEXT NOT NULL PRIMARY KEY CHECK (length(id) = 36 AND id = lower(id)),
  patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  consultation_id TEXT REFERENCES consultations (id),
  invoice_number TEXT UNIQUE,
  bill_date TEXT DEFAULT CURRENT_DATE,
  due_date TEXT,
  status TEXT DEFAULT 'pending'
      CHECK (status IN ('pending', 'sent', 'paid', 'overdue', 'cancelled')),
  charges TEXT NOT NULL CHECK (charges IS NULL OR json_valid(charges)),
  adjustments TEXT CHECK (adjustments IS NULL OR json_valid(adjustments)),
  payments TEXT CHECK (payments IS NULL OR json_valid(payments)),
  insurance_claims TEXT CHECK (insurance_claims IS NULL OR json_valid(insurance_claims)),
  total_amount NUMERIC NOT NULL,
  paid_amount NUMERIC DEFAULT 0,
  balance NUMERIC GENERATED ALWAYS AS (round(total_amount - COALESCE(paid_amount, 0), 2)) STORED,
  payment_plan_id TEXT,
  created_by TEXT REFERENCES users (id),
  -- not in the seed's table: added for interoperability (docs/canonical-schema.md)
  transaction_id TEXT UNIQUE,
  transaction_type TEXT CHECK (transaction_type IN ('CG', 'CD', 'PY', 'AJ')),
  source_message_id BIGINT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
  CHECK (due_date >= bill_date),
  CHECK (paid_amount <= total_amount)
);
CREATE INDEX billing_records_patient_idx ON billing_records (patient_id);
CREATE INDEX billing_records_status_idx ON billing_records (status);

-- notifications (seed 000): messages to staff; critical lab values create one (DESIGN.md 6).
CREATE TABLE notifications (
  id TEXT NOT NULL PRIMARY KEY CHECK (length(id) = 36 AND id = lower(id)),
  recipient_id TEXT REFERENCES users (id),
  sender_id TEXT REFERENCES users (id),
  notification_type TEXT NOT NULL,
  title TEXT NOT NULL,
  message TEXT,
  priority TEXT DEFAULT 'medium' CHECK (priority IN ('low', 'medium', 'high', 'urgent')),
  category TEXT CHECK (category IN ('medication', 'appointment', 'lab', 'patient', 'system', 'inventory', 'billing')),
  is_read INTEGER DEFAULT 0 CHECK (is_read IN (0, 1)),
  read_at TEXT,
  action_url TEXT,
  action_taken INTEGER DEFAULT 0 CHECK (action_taken IN (0, 1)),
  expires_at TEXT,
  -- not in the seed's table: added for interoperability (docs/canonical-schema.md)
  recipient_provider_id TEXT REFERENCES healthcare_providers (id),
  patient_id TEXT REFERENCES patients (id) ON DELETE CASCADE,
  dedupe_key TEXT UNIQUE,
  source_message_id BIGINT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'))
);
CREATE INDEX notifications_recipient_idx ON notifications (recipient_id, is_read);
CREATE INDEX notifications_provider_idx ON notifications (recipient_provider_id);

-- eligibility_requests (seed 003): insurance eligibility / verification requests (the seed's ivr_requests).
CREATE TABLE eligibility_requests (
  id TEXT NOT NULL PRIMARY KEY CHECK (length(id) = 36 AND id = lower(id)),
  ivr_number TEXT NOT NULL UNIQUE,
  patient_id TEXT REFERENCES patients (id) ON DELETE CASCADE,
  doctor_id TEXT REFERENCES healthcare_providers (id),
  submitter_id TEXT REFERENCES users (id),
  insurance_provider TEXT NOT NULL,
  policy_number TEXT,
  group_number TEXT,
  coverage_type TEXT DEFAULT 'Primary',
  diagnosis_code TEXT,
  treatment_plan TEXT,
  medical_necessity TEXT,
  status TEXT DEFAULT 'pending_review'
      CHECK (status IN ('pending_review', 'in_review', 'approved', 'rejected', 'awaiting_documents', 'escalated')),
  priority TEXT DEFAULT 'medium' CHECK (priority IN ('low', 'medium', 'high', 'critical')),
  approved_by TEXT REFERENCES users (id),
  approved_at TEXT,
  coverage_percentage NUMERIC,
  deductible_amount NUMERIC,
  copay_amount NUMERIC,
  out_of_pocket_max NUMERIC,
  coverage_notes TEXT,
  rejected_by TEXT REFERENCES users (id),
  rejected_at TEXT,
  rejection_reason TEXT,
  rejection_notes TEXT,
  document_request_by TEXT REFERENCES users (id),
  document_request_at TEXT,
  document_types TEXT
      CHECK (document_types IS NULL OR (json_valid(document_types) AND json_type(document_types) = 'array')),
  document_deadline TEXT,
  document_request_notes TEXT,
  submitted_at TEXT DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
  -- not in the seed's table: added for interoperability (docs/canonical-schema.md)
  trace_number TEXT UNIQUE,
  insurance_provider_id TEXT REFERENCES insurance_providers (id),
  patient_insurance_id TEXT REFERENCES patient_insurance (id),
  service_type_codes TEXT
      CHECK (service_type_codes IS NULL OR (json_valid(service_type_codes) AND json_type(service_type_codes) = 'array')),
  response TEXT CHECK (response IS NULL OR json_valid(response)),
  responded_at TEXT,
  source_message_id BIGINT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'))
);
CREATE INDEX eligibility_requests_patient_idx ON eligibility_requests (patient_id);
CREATE INDEX eligibility_requests_status_idx ON eligibility_requests (status);

-- claims (seed 004): insurance claims (837P / 837I) and their adjudication (835).
CREATE TABLE claims (
  id TEXT NOT NULL PRIMARY KEY CHECK (length(id) = 36 AND id = lower(id)),
  patient_id TEXT NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  patient_insurance_id TEXT REFERENCES patient_insurance (id),
  insurance_provider_id TEXT REFERENCES insurance_providers (id),
  billing_provider_id TEXT REFERENCES healthcare_providers (id),
  rendering_provider_id TEXT REFERENCES healthcare_providers (id),
  consultation_id TEXT REFERENCES consultations (id),
  billing_record_id TEXT REFERENCES billing_records (id),
  claim_type TEXT NOT NULL CHECK (claim_type IN ('professional', 'institutional')),
  submitter_id TEXT NOT NULL,
  patient_control_number TEXT NOT NULL,
  payer_claim_control_number TEXT,
  claim_frequency_code TEXT DEFAULT '1',
  facility_code TEXT,
  total_charge NUMERIC NOT NULL,
  paid_amount NUMERIC NOT NULL DEFAULT 0,
  patient_responsibility NUMERIC,
  status TEXT NOT NULL DEFAULT 'draft'
      CHECK (status IN ('draft', 'submitted', 'accepted', 'rejected', 'pending', 'paid', 'partially_paid', 'denied', 'reversed', 'void')),
  payer_claim_status TEXT,
  service_date_from TEXT,
  service_date_to TEXT,
  diagnosis_codes TEXT
      CHECK (diagnosis_codes IS NULL OR (json_valid(diagnosis_codes) AND json_type(diagnosis_codes) = 'array')),
  group_control_number TEXT,
  transaction_set_control_number TEXT,
  submitted_at TEXT,
  adjudicated_at TEXT,
  source_message_id BIGINT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'))
);
CREATE UNIQUE INDEX claims_control_number_key ON claims (submitter_id, patient_control_number);
CREATE INDEX claims_patient_idx ON claims (patient_id);
CREATE INDEX claims_payer_control_idx ON claims (payer_claim_control_number);

-- claim_items (seed 004): service lines of a claim (LX loop).
CREATE TABLE claim_items (
  id TEXT NOT NULL PRIMARY KEY CHECK (length(id) = 36 AND id = lower(id)),
  claim_id TEXT NOT NULL REFERENCES claims (id) ON DELETE CASCADE,
  line_number INTEGER NOT NULL,
  procedure_code_qualifier TEXT NOT NULL DEFAULT 'HC',
  procedure_code TEXT NOT NULL,
  modifiers TEXT CHECK (modifiers IS NULL OR (json_valid(modifiers) AND json_type(modifiers) = 'array')),
  revenue_code TEXT,
  charge_amount NUMERIC NOT NULL,
  unit_code TEXT DEFAULT 'UN',
  units NUMERIC,
  place_of_service TEXT,
  diagnosis_pointers TEXT
      CHECK (diagnosis_pointers IS NULL OR (json_valid(diagnosis_pointers) AND json_type(diagnosis_pointers) = 'array')),
  service_date_from TEXT,
  service_date_to TEXT,
  line_item_control_number TEXT,
  paid_amount NUMERIC,
  source_message_id BIGINT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'))
);
CREATE UNIQUE INDEX claim_items_line_key ON claim_items (claim_id, line_number);
CREATE UNIQUE INDEX claim_items_control_number_key ON claim_items (claim_id, line_item_control_number);

-- payments (seed 004): money received: payer remittances (835) and patient payments.
CREATE TABLE payments (
  id TEXT NOT NULL PRIMARY KEY CHECK (length(id) = 36 AND id = lower(id)),
  payer_type TEXT NOT NULL DEFAULT 'insurer' CHECK (payer_type IN ('insurer', 'patient', 'other')),
  insurance_provider_id TEXT REFERENCES insurance_providers (id),
  patient_id TEXT REFERENCES patients (id) ON DELETE CASCADE,
  payee_provider_id TEXT REFERENCES healthcare_providers (id),
  trace_number TEXT,
  payer_identifier TEXT,
  amount NUMERIC NOT NULL,
  payment_method TEXT
      CHECK (payment_method IN ('ach', 'check', 'wire', 'card', 'cash', 'none', 'other')),
  transaction_handling_code TEXT,
  payment_date TEXT,
  status TEXT NOT NULL DEFAULT 'received'
      CHECK (status IN ('received', 'posted', 'reversed', 'void')),
  notes TEXT,
  source_message_id BIGINT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'))
);
CREATE UNIQUE INDEX payments_trace_key ON payments (payer_identifier, trace_number);
CREATE INDEX payments_patient_idx ON payments (patient_id);

-- payment_allocations (seed 004): how a payment is applied: paid amounts and adjustments per claim and line.
CREATE TABLE payment_allocations (
  id TEXT NOT NULL PRIMARY KEY CHECK (length(id) = 36 AND id = lower(id)),
  payment_id TEXT NOT NULL REFERENCES payments (id) ON DELETE CASCADE,
  line_number INTEGER NOT NULL,
  allocation_type TEXT NOT NULL
      CHECK (allocation_type IN ('payment', 'adjustment', 'provider_adjustment')),
  claim_id TEXT REFERENCES claims (id),
  claim_item_id TEXT REFERENCES claim_items (id),
  billing_record_id TEXT REFERENCES billing_records (id),
  amount NUMERIC NOT NULL,
  adjustment_group_code TEXT CHECK (adjustment_group_code IN ('CO', 'CR', 'OA', 'PI', 'PR')),
  adjustment_reason_code TEXT,
  adjustment_quantity NUMERIC,
  remark_codes TEXT CHECK (remark_codes IS NULL OR (json_valid(remark_codes) AND json_type(remark_codes) = 'array')),
  source_message_id BIGINT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
  CHECK (allocation_type <> 'adjustment' OR adjustment_group_code IS NOT NULL)
);
CREATE UNIQUE INDEX payment_allocations_line_key ON payment_allocations (payment_id, line_number);
CREATE INDEX payment_allocations_claim_idx ON payment_allocations (claim_id);

-- domain_events (seed 004): one row per canonical change, for outbound routes and history (append-only).
CREATE TABLE domain_events (
  id TEXT NOT NULL PRIMARY KEY CHECK (length(id) = 36 AND id = lower(id)),
  event_type TEXT NOT NULL,
  entity_type TEXT NOT NULL,
  entity_id TEXT NOT NULL,
  correlation_id BIGINT,
  causation_id TEXT REFERENCES domain_events (id),
  payload TEXT NOT NULL CHECK (payload IS NULL OR json_valid(payload)),
  occurred_at TEXT NOT NULL,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'))
);
CREATE INDEX domain_events_entity_idx ON domain_events (entity_type, entity_id);
CREATE INDEX domain_events_correlation_idx ON domain_events (correlation_id);
CREATE INDEX domain_events_occurred_idx ON domain_events (occurred_at);

-- audit_log (seed 000): who changed what (the seed's audit trail; append-only).
CREATE TABLE audit_log (
  id TEXT NOT NULL PRIMARY KEY CHECK (length(id) = 36 AND id = lower(id)),
  user_id TEXT REFERENCES users (id),
  patient_id TEXT REFERENCES patients (id),
  action TEXT NOT NULL,
  resource_type TEXT NOT NULL,
  resource_id TEXT,
  old_values TEXT CHECK (old_values IS NULL OR json_valid(old_values)),
  new_values TEXT CHECK (new_values IS NULL OR json_valid(new_values)),
  ip_address TEXT,
  user_agent TEXT,
  session_id TEXT,
  timestamp TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'))
);
CREATE INDEX audit_log_patient_idx ON audit_log (patient_id);
CREATE INDEX audit_log_resource_idx ON audit_log (resource_type, resource_id);
CREATE INDEX audit_log_timestamp_idx ON audit_log (timestamp);

-- data_access_logs (seed 004): every read of PHI through the API (append-only).
CREATE TABLE data_access_logs (
  id TEXT NOT NULL PRIMARY KEY CHECK (length(id) = 36 AND id = lower(id)),
  user_id TEXT REFERENCES users (id),
  client_id TEXT,
  patient_id TEXT REFERENCES patients (id),
  resource_type TEXT NOT NULL,
  resource_id TEXT,
  action TEXT NOT NULL CHECK (action IN ('read', 'vread', 'search', 'history', 'export')),
  search_parameters TEXT,
  result_count INTEGER,
  contains_phi INTEGER NOT NULL DEFAULT 1 CHECK (contains_phi IN (0, 1)),
  justification TEXT,
  ip_address TEXT,
  user_agent TEXT,
  request_id TEXT,
  accessed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'))
);
CREATE INDEX data_access_logs_patient_idx ON data_access_logs (patient_id, accessed_at);
CREATE INDEX data_access_logs_user_idx ON data_access_logs (user_id, accessed_at);

-- system_config (seed 000): HIMS settings (key -> JSON value).
CREATE TABLE system_config (
  id TEXT NOT NULL PRIMARY KEY CHECK (length(id) = 36 AND id = lower(id)),
  config_key TEXT NOT NULL UNIQUE,
  config_value TEXT NOT NULL CHECK (config_value IS NULL OR json_valid(config_value)),
  description TEXT,
  is_encrypted INTEGER DEFAULT 0 CHECK (is_encrypted IN (0, 1)),
  modified_by TEXT REFERENCES users (id),
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'))
);
