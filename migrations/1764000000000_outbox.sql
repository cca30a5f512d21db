-- Up Migration
-- Schema notifier: the outbox, notifier.publish() and the generic row trigger notifier.row_notify().
-- Applied by `notifier migrate` (node-pg-migrate, under an advisory lock, in one transaction).

CREATE SCHEMA IF NOT EXISTS notifier;
-- Applications call notifier.publish() and attach notifier.row_notify(); both are SECURITY
-- DEFINER, so application roles need no privileges on the outbox table itself.
GRANT USAGE ON SCHEMA notifier TO PUBLIC;

-- One row per notification waiting to be published. The listener drains it in id order with
-- FOR UPDATE SKIP LOCKED and deletes rows only after the bus confirmed them. Ids are not commit
-- order (sequence values commit out of order), which is why the listener never keeps an id cursor.
CREATE TABLE notifier.outbox (
  id         bigserial   PRIMARY KEY,
  -- Dedupe key on the bus: unlike id, it never repeats, even if the schema is recreated.
  uid        uuid        NOT NULL DEFAULT gen_random_uuid(),
  channel    text        NOT NULL CHECK (channel <> '' AND octet_length(channel) <= 255),
  payload    jsonb       NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
REVOKE ALL ON notifier.outbox FROM PUBLIC;

-- Inserts a notification into the outbox and returns its id. Sends a wake-up NOTIFY on
-- channel notifier_outbox without payload: identical wake-ups in one transaction collapse into
-- one, and the payload escapes NOTIFY's 8000-byte limit. For write-heavy databases where
-- NOTIFY's commit-time lock hurts, `SET notifier.wakeup = off` (per session, role or database)
-- turns wake-ups off; the listener's polling then delivers within NOTIFIER_OUTBOX_POLL_MS.
CREATE FUNCTION notifier.publish(channel text, payload jsonb) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  new_id bigint;
BEGIN
  IF publish.channel IS NULL OR publish.channel = '' THEN
    RAISE EXCEPTION 'notifier.publish: channel must not be empty' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  INSERT INTO notifier.outbox (channel, payload)
    VALUES (publish.channel, coalesce(publish.payload, 'null'::jsonb))
    RETURNING id INTO new_id;
  IF coalesce(current_setting('notifier.wakeup', true), '') <> 'off' THEN
    PERFORM pg_notify('notifier_outbox', '');
  END IF;
  RETURN new_id;
END
$$;

-- Generic row trigger: one line per table turns INSERT/UPDATE/DELETE into outbox notifications.
--   CREATE TRIGGER execution_notify AFTER INSERT OR UPDATE OR DELETE ON execution
--     FOR EACH ROW EXECUTE FUNCTION notifier.row_notify('execution');
-- Arguments: entity_type, [id column = 'id'], [user column = 'user_id'],
--            [channel = '<entity_type>_created' / '_updated' / '_deleted' by operation].
-- Payload: {"entity_type", "entity_id", "user_id", "operation", "row"} (row = the new row, or the
-- old one for DELETE); a missing user column gives "user_id": null.
CREATE FUNCTION notifier.row_notify() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  entity_type text := TG_ARGV[0];
  id_column   text := coalesce(TG_ARGV[1], 'id');
  user_column text := coalesce(TG_ARGV[2], 'user_id');
  channel     text := coalesce(TG_ARGV[3], TG_ARGV[0] || CASE TG_OP
                        WHEN 'INSERT' THEN '_created' WHEN 'UPDATE' THEN '_updated' ELSE '_deleted' END);
  row_data    jsonb;
BEGIN
  IF entity_type IS NULL OR entity_type = '' THEN
    RAISE EXCEPTION 'notifier.row_notify on %.%: pass the entity type, e.g. EXECUTE FUNCTION notifier.row_notify(''execution'')',
      TG_TABLE_SCHEMA, TG_TABLE_NAME USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF TG_LEVEL <> 'ROW' OR TG_WHEN <> 'AFTER' THEN
    RAISE EXCEPTION 'notifier.row_notify on %.% must be an AFTER … FOR EACH ROW trigger', TG_TABLE_SCHEMA, TG_TABLE_NAME
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF TG_OP = 'DELETE' THEN
    row_data := to_jsonb(OLD);
  ELSE
    row_data := to_jsonb(NEW);
  END IF;
  PERFORM notifier.publish(channel, jsonb_build_object(
    'entity_type', entity_type,
    'entity_id', row_data -> id_column,
    'user_id', row_data -> user_column,
    'operation', TG_OP,
    'row', row_data));
  RETURN NULL;
END
$$;

-- Down Migration
DROP SCHEMA IF EXISTS notifier CASCADE;
