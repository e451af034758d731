time >= (SELECT unix_time FROM time) - 540
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'process')
  AND host_os_type = 'macos'
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_type, '')) WHERE value IN ('start', 'process_started'))
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '-[aA][cC][tT][iI][oO][nN]')
  AND (EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '-[kK][eE][rR][bB][eE][rR][oO][aA][sS][tT]' OR value GLOB '[aA][sS][kK][hH][aA][sS][hH]' OR value GLOB '[aA][sS][kK][tT][gG][sS]' OR value GLOB '[aA][sS][kK][tT][gG][tT]' OR value GLOB '[sS]4[uU]') OR EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '-[tT][iI][cC][kK][eE][tT]') AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '[pP][tT][tT]') OR EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '[dD][uU][mM][pP]') AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '[tT][iI][cC][kK][eE][tT][sS]' OR value GLOB '[kK][eE][yY][tT][aA][bB]'))
