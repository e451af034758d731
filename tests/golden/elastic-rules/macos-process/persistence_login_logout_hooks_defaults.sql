time >= (SELECT unix_time FROM time) - 540
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'process')
  AND host_os_type = 'macos'
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_type, '')) WHERE value = 'start')
  AND process_name = 'defaults'
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value = 'write')
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '[Ll][oO][gG][iI][nN][Hh][oO][oO][kKK]' OR value GLOB '[Ll][oO][gG][oO][uU][tT][Hh][oO][oO][kKK]')
  AND NOT EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '[Ssſ][uU][pP][pP][oO][rR][tT]/[Jj][Aa][Mm][Ff]/[Mm][aA][nN][aA][gG][eE][mM][eE][nN][tT][Ff][rR][aA][mM][eE][wW][oO][rR][kKK][Ssſ][cC][rR][iI][pP][tT][sSſ]/[lL][oO][gG][oO][uU][tT][hH][oO][oO][kKK].[sSſ][hH]' OR value GLOB '[Ssſ][uU][pP][pP][oO][rR][tT]/[Jj][Aa][Mm][Ff]/[Mm][aA][nN][aA][gG][eE][mM][eE][nN][tT][Ff][rR][aA][mM][eE][wW][oO][rR][kKK][Ssſ][cC][rR][iI][pP][tT][sSſ]/[lL][oO][gG][iI][nN][hH][oO][oO][kKK].[sSſ][hH]' OR value GLOB '/[Ll][iI][bB][rR][aA][rR][yY]/[Aa][pP][pP][lL][iI][cC][aA][tT][iI][oO][nN] [Ssſ][uU][pP][pP][oO][rR][tT]/[Jj][Aa][Mm][Ff]/[Mm][aA][nN][aA][gG][eE][mM][eE][nN][tT][Ff][rR][aA][mM][eE][wW][oO][rR][kKK][Ssſ][cC][rR][iI][pP][tT][sSſ]/[lL][oO][gG][oO][uU][tT][hH][oO][oO][kKK].[sSſ][hH]' OR value GLOB '/[Ll][iI][bB][rR][aA][rR][yY]/[Aa][pP][pP][lL][iI][cC][aA][tT][iI][oO][nN] [Ssſ][uU][pP][pP][oO][rR][tT]/[Jj][Aa][Mm][Ff]/[Mm][aA][nN][aA][gG][eE][mM][eE][nN][tT][Ff][rR][aA][mM][eE][wW][oO][rR][kKK][Ssſ][cC][rR][iI][pP][tT][sSſ]/[lL][oO][gG][iI][nN][hH][oO][oO][kKK].[sSſ][hH]')
  AND event_category GLOB '*"process"*'
  AND event_type GLOB '*"start"*'
  AND process_args GLOB '*"write"*'
  AND process_args GLOB '*[Hh][oO][oO][kKK]"*'
  AND time IN (
    SELECT time
    FROM ecs_process_events
    WHERE time >= (SELECT unix_time FROM time) - 540
      AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'process')
      AND host_os_type = 'macos'
      AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_type, '')) WHERE value = 'start')
      AND process_name = 'defaults'
      AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value = 'write')
      AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '[Ll][oO][gG][iI][nN][Hh][oO][oO][kKK]' OR value GLOB '[Ll][oO][gG][oO][uU][tT][Hh][oO][oO][kKK]')
      AND NOT EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '[Ssſ][uU][pP][pP][oO][rR][tT]/[Jj][Aa][Mm][Ff]/[Mm][aA][nN][aA][gG][eE][mM][eE][nN][tT][Ff][rR][aA][mM][eE][wW][oO][rR][kKK][Ssſ][cC][rR][iI][pP][tT][sSſ]/[lL][oO][gG][oO][uU][tT][hH][oO][oO][kKK].[sSſ][hH]' OR value GLOB '[Ssſ][uU][pP][pP][oO][rR][tT]/[Jj][Aa][Mm][Ff]/[Mm][aA][nN][aA][gG][eE][mM][eE][nN][tT][Ff][rR][aA][mM][eE][wW][oO][rR][kKK][Ssſ][cC][rR][iI][pP][tT][sSſ]/[lL][oO][gG][iI][nN][hH][oO][oO][kKK].[sSſ][hH]' OR value GLOB '/[Ll][iI][bB][rR][aA][rR][yY]/[Aa][pP][pP][lL][iI][cC][aA][tT][iI][oO][nN] [Ssſ][uU][pP][pP][oO][rR][tT]/[Jj][Aa][Mm][Ff]/[Mm][aA][nN][aA][gG][eE][mM][eE][nN][tT][Ff][rR][aA][mM][eE][wW][oO][rR][kKK][Ssſ][cC][rR][iI][pP][tT][sSſ]/[lL][oO][gG][oO][uU][tT][hH][oO][oO][kKK].[sSſ][hH]' OR value GLOB '/[Ll][iI][bB][rR][aA][rR][yY]/[Aa][pP][pP][lL][iI][cC][aA][tT][iI][oO][nN] [Ssſ][uU][pP][pP][oO][rR][tT]/[Jj][Aa][Mm][Ff]/[Mm][aA][nN][aA][gG][eE][mM][eE][nN][tT][Ff][rR][aA][mM][eE][wW][oO][rR][kKK][Ssſ][cC][rR][iI][pP][tT][sSſ]/[lL][oO][gG][iI][nN][hH][oO][oO][kKK].[sSſ][hH]')
      AND event_category GLOB '*"process"*'
      AND event_type GLOB '*"start"*'
      AND process_args GLOB '*"write"*'
      AND process_args GLOB '*[Hh][oO][oO][kKK]"*')
