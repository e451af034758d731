time >= (SELECT unix_time FROM time) - 540
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'process')
  AND host_os_type = 'macos'
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_type, '')) WHERE value IN ('start', 'process_started'))
  AND process_name = 'osascript'
  AND process_command_line GLOB '[oO][sSſ][aA][sSſ][cC][rR][iI][pP][tT]*[wW][iI][tT][hH] [aA][dD][mM][iI][nN][iI][sSſ][tT][rR][aA][tT][oO][rR] [pP][rR][iI][vV][iI][lL][eE][gG][eE][sSſ]'
  AND (NULLIF(process_parent_code_signature_trusted, '') = 0 OR NULLIF(process_parent_code_signature_exists, '') = 0 OR process_effective_parent_executable GLOB '/tmp/*' OR process_effective_parent_executable GLOB '/private/tmp/*' OR process_effective_parent_executable GLOB '/Users/Shared/*')
  AND event_category GLOB '*"process"*'
  AND event_type GLOB '*start*'
  AND time IN (
    SELECT time
    FROM ecs_process_events
    WHERE time >= (SELECT unix_time FROM time) - 540
      AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'process')
      AND host_os_type = 'macos'
      AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_type, '')) WHERE value IN ('start', 'process_started'))
      AND process_name = 'osascript'
      AND process_command_line GLOB '[oO][sSſ][aA][sSſ][cC][rR][iI][pP][tT]*[wW][iI][tT][hH] [aA][dD][mM][iI][nN][iI][sSſ][tT][rR][aA][tT][oO][rR] [pP][rR][iI][vV][iI][lL][eE][gG][eE][sSſ]'
      AND (NULLIF(process_parent_code_signature_trusted, '') = 0 OR NULLIF(process_parent_code_signature_exists, '') = 0 OR process_effective_parent_executable GLOB '/tmp/*' OR process_effective_parent_executable GLOB '/private/tmp/*' OR process_effective_parent_executable GLOB '/Users/Shared/*')
      AND event_category GLOB '*"process"*'
      AND event_type GLOB '*start*')
