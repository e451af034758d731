time >= (SELECT unix_time FROM time) - 540
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'process')
  AND host_os_type = 'macos'
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_type, '')) WHERE value IN ('start', 'process_started'))
  AND process_name = 'spctl'
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '--[mM][aA][sSſ][tT][eE][rR]-[dD][iI][sSſ][aA][bB][lL][eE]')
  AND event_category GLOB '*"process"*'
  AND event_type GLOB '*start*'
  AND process_args GLOB '*"--[mM][aA][sSſ][tT][eE][rR]-[dD][iI][sSſ][aA][bB][lL][eE]"*'
  AND time IN (
    SELECT time
    FROM ecs_process_events
    WHERE time >= (SELECT unix_time FROM time) - 540
      AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'process')
      AND host_os_type = 'macos'
      AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_type, '')) WHERE value IN ('start', 'process_started'))
      AND process_name = 'spctl'
      AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '--[mM][aA][sSſ][tT][eE][rR]-[dD][iI][sSſ][aA][bB][lL][eE]')
      AND event_category GLOB '*"process"*'
      AND event_type GLOB '*start*'
      AND process_args GLOB '*"--[mM][aA][sSſ][tT][eE][rR]-[dD][iI][sSſ][aA][bB][lL][eE]"*')
