-- The response cache keeps a result either sealed (AES-256-GCM under the payload codec's
-- key, bytea) or, when no key is configured, as plaintext jsonb only if the prompt and the
-- result hold no PII (naestro/pii/exposure.py decides). Rows cached before this rule may
-- hold raw PII in plaintext: they are dropped (a cache refills on its own).
DELETE FROM response_cache;
ALTER TABLE response_cache ALTER COLUMN result DROP NOT NULL;
ALTER TABLE response_cache ADD COLUMN sealed bytea;
ALTER TABLE response_cache ADD CONSTRAINT response_cache_one_form
    CHECK ((result IS NULL) <> (sealed IS NULL));
