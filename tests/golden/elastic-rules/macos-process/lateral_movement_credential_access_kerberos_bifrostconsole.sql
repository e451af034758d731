time >= (SELECT unix_time FROM time) - 540
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'process')
  AND host_os_type = 'macos'
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_type, '')) WHERE value IN ('start', 'process_started'))
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '-[aA][cC][tT][iI][oO][nN]')
  AND (EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '-[kKK][eE][rR][bB][eE][rR][oO][aA][sSſ][tT]' OR value GLOB '[aA][sSſ][kKK][hH][aA][sSſ][hH]' OR value GLOB '[aA][sSſ][kKK][tT][gG][sSſ]' OR value GLOB '[aA][sSſ][kKK][tT][gG][tT]' OR value GLOB '[sSſ]4[uU]') OR EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '-[tT][iI][cC][kKK][eE][tT]') AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '[pP][tT][tT]') OR EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '[dD][uU][mM][pP]') AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '[tT][iI][cC][kKK][eE][tT][sSſ]' OR value GLOB '[kKK][eE][yY][tT][aA][bB]'))
  AND event_category GLOB '*"process"*'
  AND event_type GLOB '*start*'
  AND process_args GLOB '*"-[aA][cC][tT][iI][oO][nN]"*'
  AND time IN (
    SELECT time
    FROM ecs_process_events
    WHERE time >= (SELECT unix_time FROM time) - 540
      AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'process')
      AND host_os_type = 'macos'
      AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_type, '')) WHERE value IN ('start', 'process_started'))
      AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '-[aA][cC][tT][iI][oO][nN]')
      AND (EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '-[kKK][eE][rR][bB][eE][rR][oO][aA][sSſ][tT]' OR value GLOB '[aA][sSſ][kKK][hH][aA][sSſ][hH]' OR value GLOB '[aA][sSſ][kKK][tT][gG][sSſ]' OR value GLOB '[aA][sSſ][kKK][tT][gG][tT]' OR value GLOB '[sSſ]4[uU]') OR EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '-[tT][iI][cC][kKK][eE][tT]') AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '[pP][tT][tT]') OR EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '[dD][uU][mM][pP]') AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '[tT][iI][cC][kKK][eE][tT][sSſ]' OR value GLOB '[kKK][eE][yY][tT][aA][bB]'))
      AND event_category GLOB '*"process"*'
      AND event_type GLOB '*start*'
      AND process_args GLOB '*"-[aA][cC][tT][iI][oO][nN]"*')
