time >= (SELECT unix_time FROM time) - 540
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'process')
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_type, '')) WHERE value IN ('start', 'process_started'))
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '[dD][uU][mM][pP]-[kKK][eE][yY][cC][hH][aA][iI][nN]')
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '-[dD]')
  AND event_category GLOB '*"process"*'
  AND event_type GLOB '*start*'
  AND process_args GLOB '*"[dD][uU][mM][pP]-[kKK][eE][yY][cC][hH][aA][iI][nN]"*'
  AND process_args GLOB '*"-[dD]"*'
  AND time IN (
    SELECT time
    FROM ecs_process_events
    WHERE time >= (SELECT unix_time FROM time) - 540
      AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'process')
      AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_type, '')) WHERE value IN ('start', 'process_started'))
      AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '[dD][uU][mM][pP]-[kKK][eE][yY][cC][hH][aA][iI][nN]')
      AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '-[dD]')
      AND event_category GLOB '*"process"*'
      AND event_type GLOB '*start*'
      AND process_args GLOB '*"[dD][uU][mM][pP]-[kKK][eE][yY][cC][hH][aA][iI][nN]"*'
      AND process_args GLOB '*"-[dD]"*')
