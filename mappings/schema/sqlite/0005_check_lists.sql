-- Migration 5, SQLite only: every CHECK of the form `column IN ('a', 'b', 'c', ...)` becomes the
-- equivalent `(column = 'a' OR column = 'b' OR ...)`. SQLite evaluates an IN list of more than
-- two values by building a temporary index of the list once per statement run, so each INSERT or
-- UPDATE of such a table built one per CHECK: on the canonical tables that was about 7 us of a
-- 12 us lab_results insert. An OR chain compares directly and accepts and refuses the same values
-- (NULL passes both). Only the text of the constraints changes, not the stored records, so the
-- schema text is rewritten in place (SQLite's documented writable_schema procedure); RESET reloads
-- it on this connection and the table created and dropped at the end moves the schema version on,
-- so other connections reload it too. New CHECKs on SQLite are written as OR chains.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema SET sql = replace(sql, 'state IN (''received'', ''processed'', ''filtered'', ''errored'', ''rejected'')',
    '(state = ''received'' OR state = ''processed'' OR state = ''filtered'' OR state = ''errored'' OR state = ''rejected'')')
  WHERE type = 'table' AND name = 'journal';
UPDATE sqlite_schema SET sql = replace(sql, 'status IN (''pending'', ''delivered'', ''dead'')',
    '(status = ''pending'' OR status = ''delivered'' OR status = ''dead'')')
  WHERE type = 'table' AND name = 'queue_items';
UPDATE sqlite_schema SET sql = replace(sql, 'role IN (''admin'', ''doctor'', ''receptionist'', ''nurse'', ''pharmacist'', ''lab'', ''patient'', ''finance'')',
    '(role = ''admin'' OR role = ''doctor'' OR role = ''receptionist'' OR role = ''nurse'' OR role = ''pharmacist'' OR role = ''lab'' OR role = ''patient'' OR role = ''finance'')')
  WHERE type = 'table' AND name = 'users';
UPDATE sqlite_schema SET sql = replace(sql, 'gender IN (''male'', ''female'', ''other'', ''prefer_not_to_say'', ''unknown'')',
    '(gender = ''male'' OR gender = ''female'' OR gender = ''other'' OR gender = ''prefer_not_to_say'' OR gender = ''unknown'')')
  WHERE type = 'table' AND name = 'patients';
UPDATE sqlite_schema SET sql = replace(sql, 'identifier_use IN (''usual'', ''official'', ''temp'', ''secondary'', ''old'')',
    '(identifier_use = ''usual'' OR identifier_use = ''official'' OR identifier_use = ''temp'' OR identifier_use = ''secondary'' OR identifier_use = ''old'')')
  WHERE type = 'table' AND name = 'patient_identifiers';
UPDATE sqlite_schema SET sql = replace(sql, 'type IN (''PRIVATE'', ''MEDICARE'', ''MEDICAID'', ''OTHER'')',
    '(type = ''PRIVATE'' OR type = ''MEDICARE'' OR type = ''MEDICAID'' OR type = ''OTHER'')')
  WHERE type = 'table' AND name = 'insurance_providers';
UPDATE sqlite_schema SET sql = replace(sql, 'coverage_type IN (''primary'', ''secondary'', ''tertiary'')',
    '(coverage_type = ''primary'' OR coverage_type = ''secondary'' OR coverage_type = ''tertiary'')')
  WHERE type = 'table' AND name = 'patient_insurance';
UPDATE sqlite_schema SET sql = replace(sql, 'relationship_to_patient IN (''self'', ''spouse'', ''child'', ''parent'', ''other'')',
    '(relationship_to_patient = ''self'' OR relationship_to_patient = ''spouse'' OR relationship_to_patient = ''child'' OR relationship_to_patient = ''parent'' OR relationship_to_patient = ''other'')')
  WHERE type = 'table' AND name = 'patient_insurance';
UPDATE sqlite_schema SET sql = replace(sql, 'status IN (''scheduled'', ''confirmed'', ''checked_in'', ''in_progress'', ''completed'', ''cancelled'', ''no_show'')',
    '(status = ''scheduled'' OR status = ''confirmed'' OR status = ''checked_in'' OR status = ''in_progress'' OR status = ''completed'' OR status = ''cancelled'' OR status = ''no_show'')')
  WHERE type = 'table' AND name = 'appointments';
UPDATE sqlite_schema SET sql = replace(sql, 'status IN (''in_progress'', ''completed'', ''cancelled'')',
    '(status = ''in_progress'' OR status = ''completed'' OR status = ''cancelled'')')
  WHERE type = 'table' AND name = 'consultations';
UPDATE sqlite_schema SET sql = replace(sql, 'patient_class IN (''E'', ''I'', ''O'', ''P'', ''R'', ''B'', ''C'', ''N'', ''U'')',
    '(patient_class = ''E'' OR patient_class = ''I'' OR patient_class = ''O'' OR patient_class = ''P'' OR patient_class = ''R'' OR patient_class = ''B'' OR patient_class = ''C'' OR patient_class = ''N'' OR patient_class = ''U'')')
  WHERE type = 'table' AND name = 'consultations';
UPDATE sqlite_schema SET sql = replace(sql, 'priority IN (''low'', ''medium'', ''high'', ''urgent'')',
    '(priority = ''low'' OR priority = ''medium'' OR priority = ''high'' OR priority = ''urgent'')')
  WHERE type = 'table' AND name = 'prescriptions';
UPDATE sqlite_schema SET sql = replace(sql, 'status IN (''pending'', ''sent_to_pharmacy'', ''processing'', ''ready'', ''dispensed'', ''cancelled'')',
    '(status = ''pending'' OR status = ''sent_to_pharmacy'' OR status = ''processing'' OR status = ''ready'' OR status = ''dispensed'' OR status = ''cancelled'')')
  WHERE type = 'table' AND name = 'prescriptions';
UPDATE sqlite_schema SET sql = replace(sql, 'record_type IN (''allergy'', ''medication'', ''diagnosis'', ''procedure'', ''vital_signs'', ''lab_result'', ''imaging'', ''note'')',
    '(record_type = ''allergy'' OR record_type = ''medication'' OR record_type = ''diagnosis'' OR record_type = ''procedure'' OR record_type = ''vital_signs'' OR record_type = ''lab_result'' OR record_type = ''imaging'' OR record_type = ''note'')')
  WHERE type = 'table' AND name = 'medical_records';
UPDATE sqlite_schema SET sql = replace(sql, 'priority IN (''routine'', ''urgent'', ''stat'')',
    '(priority = ''routine'' OR priority = ''urgent'' OR priority = ''stat'')')
  WHERE type = 'table' AND name = 'lab_orders';
UPDATE sqlite_schema SET sql = replace(sql, 'status IN (''ordered'', ''collected'', ''processing'', ''completed'', ''cancelled'')',
    '(status = ''ordered'' OR status = ''collected'' OR status = ''processing'' OR status = ''completed'' OR status = ''cancelled'')')
  WHERE type = 'table' AND name = 'lab_orders';
UPDATE sqlite_schema SET sql = replace(sql, 'result_status IN (''O'', ''I'', ''S'', ''A'', ''P'', ''C'', ''R'', ''F'', ''X'', ''Y'', ''Z'')',
    '(result_status = ''O'' OR result_status = ''I'' OR result_status = ''S'' OR result_status = ''A'' OR result_status = ''P'' OR result_status = ''C'' OR result_status = ''R'' OR result_status = ''F'' OR result_status = ''X'' OR result_status = ''Y'' OR result_status = ''Z'')')
  WHERE type = 'table' AND name = 'lab_orders';
UPDATE sqlite_schema SET sql = replace(sql, 'test_category IN (''blood'', ''urine'', ''imaging'', ''pathology'', ''microbiology'', ''other'')',
    '(test_category = ''blood'' OR test_category = ''urine'' OR test_category = ''imaging'' OR test_category = ''pathology'' OR test_category = ''microbiology'' OR test_category = ''other'')')
  WHERE type = 'table' AND name = 'lab_results';
UPDATE sqlite_schema SET sql = replace(sql, 'status IN (''ordered'', ''in_progress'', ''completed'', ''cancelled'')',
    '(status = ''ordered'' OR status = ''in_progress'' OR status = ''completed'' OR status = ''cancelled'')')
  WHERE type = 'table' AND name = 'lab_results';
UPDATE sqlite_schema SET sql = replace(sql, 'abnormal_flag IN (''normal'', ''low'', ''high'', ''critical'', ''abnormal'')',
    '(abnormal_flag = ''normal'' OR abnormal_flag = ''low'' OR abnormal_flag = ''high'' OR abnormal_flag = ''critical'' OR abnormal_flag = ''abnormal'')')
  WHERE type = 'table' AND name = 'lab_results';
UPDATE sqlite_schema SET sql = replace(sql, 'result_status IN (''C'', ''D'', ''F'', ''I'', ''N'', ''O'', ''P'', ''R'', ''S'', ''U'', ''W'', ''X'')',
    '(result_status = ''C'' OR result_status = ''D'' OR result_status = ''F'' OR result_status = ''I'' OR result_status = ''N'' OR result_status = ''O'' OR result_status = ''P'' OR result_status = ''R'' OR result_status = ''S'' OR result_status = ''U'' OR result_status = ''W'' OR result_status = ''X'')')
  WHERE type = 'table' AND name = 'lab_results';
UPDATE sqlite_schema SET sql = replace(sql, 'severity IN (''mild'', ''moderate'', ''severe'', ''critical'')',
    '(severity = ''mild'' OR severity = ''moderate'' OR severity = ''severe'' OR severity = ''critical'')')
  WHERE type = 'table' AND name = 'medical_conditions';
UPDATE sqlite_schema SET sql = replace(sql, 'status IN (''active'', ''resolved'', ''chronic'', ''in_remission'')',
    '(status = ''active'' OR status = ''resolved'' OR status = ''chronic'' OR status = ''in_remission'')')
  WHERE type = 'table' AND name = 'medical_conditions';
UPDATE sqlite_schema SET sql = replace(sql, 'status IN (''pending'', ''sent'', ''paid'', ''overdue'', ''cancelled'')',
    '(status = ''pending'' OR status = ''sent'' OR status = ''paid'' OR status = ''overdue'' OR status = ''cancelled'')')
  WHERE type = 'table' AND name = 'billing_records';
UPDATE sqlite_schema SET sql = replace(sql, 'transaction_type IN (''CG'', ''CD'', ''PY'', ''AJ'')',
    '(transaction_type = ''CG'' OR transaction_type = ''CD'' OR transaction_type = ''PY'' OR transaction_type = ''AJ'')')
  WHERE type = 'table' AND name = 'billing_records';
UPDATE sqlite_schema SET sql = replace(sql, 'priority IN (''low'', ''medium'', ''high'', ''urgent'')',
    '(priority = ''low'' OR priority = ''medium'' OR priority = ''high'' OR priority = ''urgent'')')
  WHERE type = 'table' AND name = 'notifications';
UPDATE sqlite_schema SET sql = replace(sql, 'category IN (''medication'', ''appointment'', ''lab'', ''patient'', ''system'', ''inventory'', ''billing'')',
    '(category = ''medication'' OR category = ''appointment'' OR category = ''lab'' OR category = ''patient'' OR category = ''system'' OR category = ''inventory'' OR category = ''billing'')')
  WHERE type = 'table' AND name = 'notifications';
UPDATE sqlite_schema SET sql = replace(sql, 'status IN (''pending_review'', ''in_review'', ''approved'', ''rejected'', ''awaiting_documents'', ''escalated'')',
    '(status = ''pending_review'' OR status = ''in_review'' OR status = ''approved'' OR status = ''rejected'' OR status = ''awaiting_documents'' OR status = ''escalated'')')
  WHERE type = 'table' AND name = 'eligibility_requests';
UPDATE sqlite_schema SET sql = replace(sql, 'priority IN (''low'', ''medium'', ''high'', ''critical'')',
    '(priority = ''low'' OR priority = ''medium'' OR priority = ''high'' OR priority = ''critical'')')
  WHERE type = 'table' AND name = 'eligibility_requests';
UPDATE sqlite_schema SET sql = replace(sql, 'status IN (''draft'', ''submitted'', ''accepted'', ''rejected'', ''pending'', ''paid'', ''partially_paid'', ''denied'', ''reversed'', ''void'')',
    '(status = ''draft'' OR status = ''submitted'' OR status = ''accepted'' OR status = ''rejected'' OR status = ''pending'' OR status = ''paid'' OR status = ''partially_paid'' OR status = ''denied'' OR status = ''reversed'' OR status = ''void'')')
  WHERE type = 'table' AND name = 'claims';
UPDATE sqlite_schema SET sql = replace(sql, 'payer_type IN (''insurer'', ''patient'', ''other'')',
    '(payer_type = ''insurer'' OR payer_type = ''patient'' OR payer_type = ''other'')')
  WHERE type = 'table' AND name = 'payments';
UPDATE sqlite_schema SET sql = replace(sql, 'payment_method IN (''ach'', ''check'', ''wire'', ''card'', ''cash'', ''none'', ''other'')',
    '(payment_method = ''ach'' OR payment_method = ''check'' OR payment_method = ''wire'' OR payment_method = ''card'' OR payment_method = ''cash'' OR payment_method = ''none'' OR payment_method = ''other'')')
  WHERE type = 'table' AND name = 'payments';
UPDATE sqlite_schema SET sql = replace(sql, 'status IN (''received'', ''posted'', ''reversed'', ''void'')',
    '(status = ''received'' OR status = ''posted'' OR status = ''reversed'' OR status = ''void'')')
  WHERE type = 'table' AND name = 'payments';
UPDATE sqlite_schema SET sql = replace(sql, 'allocation_type IN (''payment'', ''adjustment'', ''provider_adjustment'')',
    '(allocation_type = ''payment'' OR allocation_type = ''adjustment'' OR allocation_type = ''provider_adjustment'')')
  WHERE type = 'table' AND name = 'payment_allocations';
UPDATE sqlite_schema SET sql = replace(sql, 'adjustment_group_code IN (''CO'', ''CR'', ''OA'', ''PI'', ''PR'')',
    '(adjustment_group_code = ''CO'' OR adjustment_group_code = ''CR'' OR adjustment_group_code = ''OA'' OR adjustment_group_code = ''PI'' OR adjustment_group_code = ''PR'')')
  WHERE type = 'table' AND name = 'payment_allocations';
UPDATE sqlite_schema SET sql = replace(sql, 'action IN (''read'', ''vread'', ''search'', ''history'', ''export'')',
    '(action = ''read'' OR action = ''vread'' OR action = ''search'' OR action = ''history'' OR action = ''export'')')
  WHERE type = 'table' AND name = 'data_access_logs';
PRAGMA writable_schema = RESET;
CREATE TABLE hims_schema_version_step (x INTEGER);
DROP TABLE hims_schema_version_step;
