time >= (SELECT unix_time FROM time) - 540
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'process')
  AND host_os_type = 'macos'
  AND event_action = 'exec'
  AND process_name = 'security'
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value IN ('-wa', '-ga'))
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '[fF][iI][nN][dD]-[gG][eE][nN][eE][rR][iI][cC]-[pP][aA][sSſ][sSſ][wW][oO][rR][dD]' OR value GLOB '[fF][iI][nN][dD]-[iI][nN][tT][eE][rR][nN][eE][tT]-[pP][aA][sSſ][sSſ][wW][oO][rR][dD]')
  AND (process_command_line GLOB '*[Cc][hH][rR][oO][mM][eE]*' OR process_command_line GLOB '*[Cc][hH][rR][oO][mM][iI][uU][mM]*' OR process_command_line GLOB '*[Oo][pP][eE][rR][aA]*' OR process_command_line GLOB '*[Ssſ][aA][fF][aA][rR][iI]*' OR process_command_line GLOB '*[Bb][rR][aA][vV][eE]*' OR process_command_line GLOB '*[Mm][iI][cC][rR][oO][sSſ][oO][fF][tT] [Ee][dD][gG][eE]*' OR process_command_line GLOB '*[Ff][iI][rR][eE][fF][oO][xX]*')
  AND NOT coalesce(process_parent_executable GLOB '/Applications/Keeper Password Manager.app/Contents/Frameworks/Keeper Password Manager Helper*/Contents/MacOS/Keeper Password Manager Helper*', 0)
  AND event_category GLOB '*"process"*'
  AND process_args GLOB '*-[pP][aA][sSſ][sSſ][wW][oO][rR][dD]"*'
  AND time IN (
    SELECT time
    FROM ecs_process_events
    WHERE time >= (SELECT unix_time FROM time) - 540
      AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'process')
      AND host_os_type = 'macos'
      AND event_action = 'exec'
      AND process_name = 'security'
      AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value IN ('-wa', '-ga'))
      AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '[fF][iI][nN][dD]-[gG][eE][nN][eE][rR][iI][cC]-[pP][aA][sSſ][sSſ][wW][oO][rR][dD]' OR value GLOB '[fF][iI][nN][dD]-[iI][nN][tT][eE][rR][nN][eE][tT]-[pP][aA][sSſ][sSſ][wW][oO][rR][dD]')
      AND (process_command_line GLOB '*[Cc][hH][rR][oO][mM][eE]*' OR process_command_line GLOB '*[Cc][hH][rR][oO][mM][iI][uU][mM]*' OR process_command_line GLOB '*[Oo][pP][eE][rR][aA]*' OR process_command_line GLOB '*[Ssſ][aA][fF][aA][rR][iI]*' OR process_command_line GLOB '*[Bb][rR][aA][vV][eE]*' OR process_command_line GLOB '*[Mm][iI][cC][rR][oO][sSſ][oO][fF][tT] [Ee][dD][gG][eE]*' OR process_command_line GLOB '*[Ff][iI][rR][eE][fF][oO][xX]*')
      AND NOT coalesce(process_parent_executable GLOB '/Applications/Keeper Password Manager.app/Contents/Frameworks/Keeper Password Manager Helper*/Contents/MacOS/Keeper Password Manager Helper*', 0)
      AND event_category GLOB '*"process"*'
      AND process_args GLOB '*-[pP][aA][sSſ][sSſ][wW][oO][rR][dD]"*')
