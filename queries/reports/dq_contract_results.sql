-- name: dq_contract_results
-- Data-contract checks run after each load: what each checks and how many rows break it,
-- with a sample of the violating rows (JSON).
-- grain: one row per load_id and contract
-- params:
-- columns: load_id BIGINT, contract VARCHAR, description VARCHAR, n_violations BIGINT, sample VARCHAR
-- source: contract_results
SELECT load_id, contract, description, n_violations, CAST(sample AS VARCHAR) AS sample
FROM contract_results
ORDER BY load_id DESC, n_violations DESC, contract
