time >= (SELECT unix_time FROM time) - 540
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'process')
  AND host_os_type = 'macos'
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_type, '')) WHERE value IN ('start', 'process_started'))
  AND (process_name = 'defaults' AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '[Ssſ][hH][aA][dD][oO][wW][Hh][aA][sSſ][hH][Dd][aA][tT][aA]') OR process_name = 'mkpassdb' AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value = '-dump') OR process_name = 'dscl' AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '[Ssſ][hH][aA][dD][oO][wW][Hh][aA][sSſ][hH][Dd][aA][tT][aA]') OR process_name IN ('plutil', 'cat', 'strings', 'xxd', 'head') AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '/var/db/dslocal/nodes/Default/users/*.plist'))
  AND event_category GLOB '*"process"*'
  AND event_type GLOB '*start*'
  AND process_name IN ('cat', 'defaults', 'dscl', 'head', 'mkpassdb', 'plutil', 'strings', 'xxd')
  AND time IN (
    SELECT time
    FROM ecs_process_events
    WHERE time >= (SELECT unix_time FROM time) - 540
      AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'process')
      AND host_os_type = 'macos'
      AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_type, '')) WHERE value IN ('start', 'process_started'))
      AND (process_name = 'defaults' AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '[Ssſ][hH][aA][dD][oO][wW][Hh][aA][sSſ][hH][Dd][aA][tT][aA]') OR process_name = 'mkpassdb' AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value = '-dump') OR process_name = 'dscl' AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '[Ssſ][hH][aA][dD][oO][wW][Hh][aA][sSſ][hH][Dd][aA][tT][aA]') OR process_name IN ('plutil', 'cat', 'strings', 'xxd', 'head') AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '/var/db/dslocal/nodes/Default/users/*.plist'))
      AND event_category GLOB '*"process"*'
      AND event_type GLOB '*start*'
      AND process_name IN ('cat', 'defaults', 'dscl', 'head', 'mkpassdb', 'plutil', 'strings', 'xxd'))
