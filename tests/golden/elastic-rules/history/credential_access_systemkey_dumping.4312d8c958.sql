time >= (SELECT unix_time FROM time) - 540
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'process')
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_type, '')) WHERE value IN ('start', 'process_started'))
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value IN ('/private/var/db/SystemKey', '/var/db/SystemKey'))
  AND event_category GLOB '*"process"*'
  AND event_type GLOB '*start*'
  AND process_args GLOB '*/var/db/SystemKey"*'
  AND time IN (
    SELECT time
    FROM ecs_process_events
    WHERE time >= (SELECT unix_time FROM time) - 540
      AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'process')
      AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_type, '')) WHERE value IN ('start', 'process_started'))
      AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value IN ('/private/var/db/SystemKey', '/var/db/SystemKey'))
      AND event_category GLOB '*"process"*'
      AND event_type GLOB '*start*'
      AND process_args GLOB '*/var/db/SystemKey"*')
