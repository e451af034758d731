time >= (SELECT unix_time FROM time) - 540
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'process')
  AND host_os_type = 'macos'
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_type, '')) WHERE value IN ('start', 'process_started'))
  AND (process_parent_name GLOB '[Gg][oO][oO][gG][lL][eE] [Cc][hH][rR][oO][mM][eE]' OR process_parent_name GLOB '[Gg][oO][oO][gG][lL][eE] [Cc][hH][rR][oO][mM][eE] [Hh][eE][lL][pP][eE][rR]*' OR process_parent_name GLOB '[fF][iI][rR][eE][fF][oO][xX]' OR process_parent_name GLOB '[Oo][pP][eE][rR][aA]' OR process_parent_name GLOB '[Ssſ][aA][fF][aA][rR][iI]' OR process_parent_name GLOB '[cC][oO][mM].[aA][pP][pP][lL][eE].[Ww][eE][bB][KkK][iI][tT].[Ww][eE][bB][Cc][oO][nN][tT][eE][nN][tT]' OR process_parent_name GLOB '[Mm][iI][cC][rR][oO][sSſ][oO][fF][tT] [Ee][dD][gG][eE]')
  AND ((process_name GLOB '[sSſ][hH]' OR process_name GLOB '[bB][aA][sSſ][hH]' OR process_name GLOB '[dD][aA][sSſ][hH]' OR process_name GLOB '[kKK][sSſ][hH]' OR process_name GLOB '[tT][cC][sSſ][hH]' OR process_name GLOB '[zZ][sSſ][hH]') AND (process_command_line GLOB '*[cC][uU][rR][lL]*' OR process_command_line GLOB '*[nN][sSſ][cC][uU][rR][lL]*' OR process_command_line GLOB '*[wW][gG][eE][tT]*' OR process_command_line GLOB '*[wW][hH][oO][aA][mM][iI]*' OR process_command_line GLOB '*[pP][wW][dD]*') OR process_name GLOB '[cC][uU][rR][lL]' OR process_name GLOB '[wW][gG][eE][tT]' OR process_name GLOB '[pP][yY][tT][hH][oO][nN]*' OR process_name GLOB '[pP][eE][rR][lL]*' OR process_name GLOB '[pP][hH][pP]*' OR process_name GLOB '[oO][sSſ][aA][sSſ][cC][rR][iI][pP][tT]' OR process_name GLOB '[pP][wW][sSſ][hH]')
  AND NULLIF(process_command_line, '') IS NOT NULL
  AND event_category GLOB '*"process"*'
  AND event_type GLOB '*start*'
  AND time IN (
    SELECT time
    FROM ecs_process_events
    WHERE time >= (SELECT unix_time FROM time) - 540
      AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'process')
      AND host_os_type = 'macos'
      AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_type, '')) WHERE value IN ('start', 'process_started'))
      AND (process_parent_name GLOB '[Gg][oO][oO][gG][lL][eE] [Cc][hH][rR][oO][mM][eE]' OR process_parent_name GLOB '[Gg][oO][oO][gG][lL][eE] [Cc][hH][rR][oO][mM][eE] [Hh][eE][lL][pP][eE][rR]*' OR process_parent_name GLOB '[fF][iI][rR][eE][fF][oO][xX]' OR process_parent_name GLOB '[Oo][pP][eE][rR][aA]' OR process_parent_name GLOB '[Ssſ][aA][fF][aA][rR][iI]' OR process_parent_name GLOB '[cC][oO][mM].[aA][pP][pP][lL][eE].[Ww][eE][bB][KkK][iI][tT].[Ww][eE][bB][Cc][oO][nN][tT][eE][nN][tT]' OR process_parent_name GLOB '[Mm][iI][cC][rR][oO][sSſ][oO][fF][tT] [Ee][dD][gG][eE]')
      AND ((process_name GLOB '[sSſ][hH]' OR process_name GLOB '[bB][aA][sSſ][hH]' OR process_name GLOB '[dD][aA][sSſ][hH]' OR process_name GLOB '[kKK][sSſ][hH]' OR process_name GLOB '[tT][cC][sSſ][hH]' OR process_name GLOB '[zZ][sSſ][hH]') AND (process_command_line GLOB '*[cC][uU][rR][lL]*' OR process_command_line GLOB '*[nN][sSſ][cC][uU][rR][lL]*' OR process_command_line GLOB '*[wW][gG][eE][tT]*' OR process_command_line GLOB '*[wW][hH][oO][aA][mM][iI]*' OR process_command_line GLOB '*[pP][wW][dD]*') OR process_name GLOB '[cC][uU][rR][lL]' OR process_name GLOB '[wW][gG][eE][tT]' OR process_name GLOB '[pP][yY][tT][hH][oO][nN]*' OR process_name GLOB '[pP][eE][rR][lL]*' OR process_name GLOB '[pP][hH][pP]*' OR process_name GLOB '[oO][sSſ][aA][sSſ][cC][rR][iI][pP][tT]' OR process_name GLOB '[pP][wW][sSſ][hH]')
      AND NULLIF(process_command_line, '') IS NOT NULL
      AND event_category GLOB '*"process"*'
      AND event_type GLOB '*start*')
