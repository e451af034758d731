SELECT
  time,
  timestamp,
  event_category,
  event_type,
  event_action,
  event_id,
  host_os_type,
  host_name,
  process_pid,
  process_entity_id,
  process_executable,
  process_name,
  process_args,
  process_args_count,
  process_command_line,
  process_working_directory,
  process_env_vars,
  process_previous_executable,
  process_exit_code,
  process_code_signature_exists,
  process_code_signature_trusted,
  process_code_signature_signing_id,
  process_code_signature_team_id,
  process_parent_pid,
  process_parent_entity_id,
  process_parent_executable,
  process_parent_name,
  process_parent_args,
  process_parent_command_line,
  process_parent_code_signature_exists,
  process_parent_code_signature_trusted,
  process_effective_parent_pid,
  process_effective_parent_entity_id,
  process_effective_parent_executable,
  process_effective_parent_name,
  user_id,
  user_name,
  user_effective_id,
  group_id,
  event_outcome,
  file_path,
  file_name,
  file_extension,
  file_directory,
  file_original_path,
  file_original_name,
  effective_process_pid,
  effective_process_entity_id,
  effective_process_executable,
  effective_process_name,
  persistence_name,
  persistence_path,
  persistence_executable
FROM ecs_file_events
WHERE time >= (SELECT unix_time FROM time) - 540
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'file')
  AND event_action IN ('open', 'creation', 'modification')
  AND event_outcome = 'success'
  AND (process_name GLOB '[oO][lL][lL][aA][mM][aA].[eE][xX][eE]' OR process_name GLOB '[oO][lL][lL][aA][mM][aA]' OR process_name GLOB '[tT][eE][xX][tT][gG][eE][nN].[eE][xX][eE]' OR process_name GLOB '[tT][eE][xX][tT][gG][eE][nN]' OR process_name GLOB '[tT][eE][xX][tT]-[gG][eE][nN][eE][rR][aA][tT][iI][oO][nN]-[wW][eE][bB][uU][iI].[eE][xX][eE]' OR process_name GLOB '[oO][oO][bB][aA][bB][oO][oO][gG][aA].[eE][xX][eE]' OR process_name GLOB '[lL][mM][sSſ][tT][uU][dD][iI][oO].[eE][xX][eE]' OR process_name GLOB '[lL][mM][sSſ][tT][uU][dD][iI][oO]' OR process_name GLOB '[Ll][Mm] [Ssſ][tT][uU][dD][iI][oO]' OR process_name GLOB '[cC][lL][aA][uU][dD][eE].[eE][xX][eE]' OR process_name GLOB '[cC][lL][aA][uU][dD][eE]' OR process_name GLOB '[cC][uU][rR][sSſ][oO][rR].[eE][xX][eE]' OR process_name GLOB '[cC][uU][rR][sSſ][oO][rR]' OR process_name GLOB '[cC][oO][pP][iI][lL][oO][tT].[eE][xX][eE]' OR process_name GLOB '[cC][oO][pP][iI][lL][oO][tT]' OR process_name GLOB '[cC][oO][dD][eE][xX].[eE][xX][eE]' OR process_name GLOB '[cC][oO][dD][eE][xX]' OR process_name GLOB '[jJ][aA][nN].[eE][xX][eE]' OR process_name GLOB '[jJ][aA][nN]' OR process_name GLOB '[gG][pP][tT]4[aA][lL][lL].[eE][xX][eE]' OR process_name GLOB '[gG][pP][tT]4[aA][lL][lL]' OR process_name GLOB '[gG][eE][mM][iI][nN][iI]-[cC][lL][iI].[eE][xX][eE]' OR process_name GLOB '[gG][eE][mM][iI][nN][iI]-[cC][lL][iI]' OR process_name GLOB '[gG][eE][mM][iI][nN][iI].[eE][xX][eE]' OR process_name GLOB '[gG][eE][nN][aA][iI][sSſ][cC][rR][iI][pP][tT].[eE][xX][eE]' OR process_name GLOB '[gG][eE][nN][aA][iI][sSſ][cC][rR][iI][pP][tT]' OR process_name GLOB '[gG][rR][oO][kKK].[eE][xX][eE]' OR process_name GLOB '[gG][rR][oO][kKK]' OR process_name GLOB '[qQ][wW][eE][nN].[eE][xX][eE]' OR process_name GLOB '[qQ][wW][eE][nN]' OR process_name GLOB '[kKK][oO][bB][oO][lL][dD][cC][pP][pP].[eE][xX][eE]' OR process_name GLOB '[kKK][oO][bB][oO][lL][dD][cC][pP][pP]' OR process_name GLOB '[lL][lL][aA][mM][aA]-[sSſ][eE][rR][vV][eE][rR]' OR process_name GLOB '[lL][lL][aA][mM][aA]-[cC][lL][iI]' OR process_name GLOB '[wW][iI][nN][dD][sSſ][uU][rR][fF].[eE][xX][eE]' OR process_name GLOB '[wW][iI][nN][dD][sSſ][uU][rR][fF]' OR process_name GLOB '[zZ][eE][dD].[eE][xX][eE]' OR process_name GLOB '[zZ][eE][dD]' OR process_name GLOB '[oO][pP][eE][nN][cC][oO][dD][eE].[eE][xX][eE]' OR process_name GLOB '[oO][pP][eE][nN][cC][oO][dD][eE]' OR process_name GLOB '[gG][oO][oO][sSſ][eE].[eE][xX][eE]' OR process_name GLOB '[gG][oO][oO][sSſ][eE]')
  AND (file_name IN ('.bashrc', '.bash_profile', '.zshrc', '.zshenv', '.zprofile', '.profile', '.bash_logout') OR file_name GLOB '[kKK][eE][yY]?.[dD][bB]' OR file_name GLOB '[lL][oO][gG][iI][nN][sSſ].[jJ][sSſ][oO][nN]' OR file_name GLOB '[Ll][oO][gG][iI][nN] [Dd][aA][tT][aA]' OR file_name GLOB '[Ll][oO][cC][aA][lL] [Ssſ][tT][aA][tT][eE]' OR file_name GLOB '[sSſ][iI][gG][nN][oO][nN][sSſ].[sSſ][qQ][lL][iI][tT][eE]' OR file_name GLOB '[Cc][oO][oO][kKK][iI][eE][sSſ]' OR file_name GLOB '[cC][oO][oO][kKK][iI][eE][sSſ].[sSſ][qQ][lL][iI][tT][eE]' OR file_name GLOB '[Cc][oO][oO][kKK][iI][eE][sSſ].[bB][iI][nN][aA][rR][yY][cC][oO][oO][kKK][iI][eE][sSſ]' OR file_name GLOB '[lL][oO][gG][iI][nN].[kKK][eE][yY][cC][hH][aA][iI][nN]-[dD][bB]' OR file_name GLOB '[Ssſ][yY][sSſ][tT][eE][mM].[kKK][eE][yY][cC][hH][aA][iI][nN]' OR file_name GLOB '[cC][rR][eE][dD][eE][nN][tT][iI][aA][lL][sSſ].[dD][bB]' OR file_name GLOB '[cC][rR][eE][dD][eE][nN][tT][iI][aA][lL][sSſ]' OR file_name GLOB '[aA][cC][cC][eE][sSſ][sSſ]_[tT][oO][kKK][eE][nN][sSſ].[dD][bB]' OR file_name GLOB '[aA][cC][cC][eE][sSſ][sSſ][Tt][oO][kKK][eE][nN][sSſ].[jJ][sSſ][oO][nN]' OR file_name GLOB '[aA][zZ][uU][rR][eE][Pp][rR][oO][fF][iI][lL][eE].[jJ][sSſ][oO][nN]' OR file_name GLOB '[Rr][Dd][Cc][Mm][aA][nN].[sSſ][eE][tT][tT][iI][nN][gG][sSſ]' OR file_name GLOB '[kKK][nN][oO][wW][nN]_[hH][oO][sSſ][tT][sSſ]' OR file_name GLOB '[KkK][eE][eE][Pp][aA][sSſ][sSſ].[cC][oO][nN][fF][iI][gG].[xX][mM][lL]' OR file_name GLOB '[Uu][nN][aA][tT][tT][eE][nN][dD][eE][dD].[xX][mM][lL]')
  AND NOT coalesce(host_os_type = 'windows' AND file_name GLOB '[Ll][oO][cC][aA][lL] [Ssſ][tT][aA][tT][eE]' AND (file_path GLOB '?:\[Uu][sSſ][eE][rR][sSſ]\*\[Aa][pP][pP][Dd][aA][tT][aA]\[Rr][oO][aA][mM][iI][nN][gG]\*\[Ll][oO][cC][aA][lL] [Ssſ][tT][aA][tT][eE]' OR file_path GLOB '?:\[Uu][sSſ][eE][rR][sSſ]\*\[Aa][pP][pP][Dd][aA][tT][aA]\[Ll][oO][cC][aA][lL]\[Pp][aA][cC][kKK][aA][gG][eE][sSſ]\*\[Ll][oO][cC][aA][lL][Cc][aA][cC][hH][eE]\[Rr][oO][aA][mM][iI][nN][gG]\*\[Ll][oO][cC][aA][lL] [Ssſ][tT][aA][tT][eE]'), 0)
  AND event_category GLOB '*"file"*'
  AND time IN (
    SELECT time
    FROM ecs_file_events
    WHERE time >= (SELECT unix_time FROM time) - 540
      AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'file')
      AND event_action IN ('open', 'creation', 'modification')
      AND event_outcome = 'success'
      AND (process_name GLOB '[oO][lL][lL][aA][mM][aA].[eE][xX][eE]' OR process_name GLOB '[oO][lL][lL][aA][mM][aA]' OR process_name GLOB '[tT][eE][xX][tT][gG][eE][nN].[eE][xX][eE]' OR process_name GLOB '[tT][eE][xX][tT][gG][eE][nN]' OR process_name GLOB '[tT][eE][xX][tT]-[gG][eE][nN][eE][rR][aA][tT][iI][oO][nN]-[wW][eE][bB][uU][iI].[eE][xX][eE]' OR process_name GLOB '[oO][oO][bB][aA][bB][oO][oO][gG][aA].[eE][xX][eE]' OR process_name GLOB '[lL][mM][sSſ][tT][uU][dD][iI][oO].[eE][xX][eE]' OR process_name GLOB '[lL][mM][sSſ][tT][uU][dD][iI][oO]' OR process_name GLOB '[Ll][Mm] [Ssſ][tT][uU][dD][iI][oO]' OR process_name GLOB '[cC][lL][aA][uU][dD][eE].[eE][xX][eE]' OR process_name GLOB '[cC][lL][aA][uU][dD][eE]' OR process_name GLOB '[cC][uU][rR][sSſ][oO][rR].[eE][xX][eE]' OR process_name GLOB '[cC][uU][rR][sSſ][oO][rR]' OR process_name GLOB '[cC][oO][pP][iI][lL][oO][tT].[eE][xX][eE]' OR process_name GLOB '[cC][oO][pP][iI][lL][oO][tT]' OR process_name GLOB '[cC][oO][dD][eE][xX].[eE][xX][eE]' OR process_name GLOB '[cC][oO][dD][eE][xX]' OR process_name GLOB '[jJ][aA][nN].[eE][xX][eE]' OR process_name GLOB '[jJ][aA][nN]' OR process_name GLOB '[gG][pP][tT]4[aA][lL][lL].[eE][xX][eE]' OR process_name GLOB '[gG][pP][tT]4[aA][lL][lL]' OR process_name GLOB '[gG][eE][mM][iI][nN][iI]-[cC][lL][iI].[eE][xX][eE]' OR process_name GLOB '[gG][eE][mM][iI][nN][iI]-[cC][lL][iI]' OR process_name GLOB '[gG][eE][mM][iI][nN][iI].[eE][xX][eE]' OR process_name GLOB '[gG][eE][nN][aA][iI][sSſ][cC][rR][iI][pP][tT].[eE][xX][eE]' OR process_name GLOB '[gG][eE][nN][aA][iI][sSſ][cC][rR][iI][pP][tT]' OR process_name GLOB '[gG][rR][oO][kKK].[eE][xX][eE]' OR process_name GLOB '[gG][rR][oO][kKK]' OR process_name GLOB '[qQ][wW][eE][nN].[eE][xX][eE]' OR process_name GLOB '[qQ][wW][eE][nN]' OR process_name GLOB '[kKK][oO][bB][oO][lL][dD][cC][pP][pP].[eE][xX][eE]' OR process_name GLOB '[kKK][oO][bB][oO][lL][dD][cC][pP][pP]' OR process_name GLOB '[lL][lL][aA][mM][aA]-[sSſ][eE][rR][vV][eE][rR]' OR process_name GLOB '[lL][lL][aA][mM][aA]-[cC][lL][iI]' OR process_name GLOB '[wW][iI][nN][dD][sSſ][uU][rR][fF].[eE][xX][eE]' OR process_name GLOB '[wW][iI][nN][dD][sSſ][uU][rR][fF]' OR process_name GLOB '[zZ][eE][dD].[eE][xX][eE]' OR process_name GLOB '[zZ][eE][dD]' OR process_name GLOB '[oO][pP][eE][nN][cC][oO][dD][eE].[eE][xX][eE]' OR process_name GLOB '[oO][pP][eE][nN][cC][oO][dD][eE]' OR process_name GLOB '[gG][oO][oO][sSſ][eE].[eE][xX][eE]' OR process_name GLOB '[gG][oO][oO][sSſ][eE]')
      AND (file_name IN ('.bashrc', '.bash_profile', '.zshrc', '.zshenv', '.zprofile', '.profile', '.bash_logout') OR file_name GLOB '[kKK][eE][yY]?.[dD][bB]' OR file_name GLOB '[lL][oO][gG][iI][nN][sSſ].[jJ][sSſ][oO][nN]' OR file_name GLOB '[Ll][oO][gG][iI][nN] [Dd][aA][tT][aA]' OR file_name GLOB '[Ll][oO][cC][aA][lL] [Ssſ][tT][aA][tT][eE]' OR file_name GLOB '[sSſ][iI][gG][nN][oO][nN][sSſ].[sSſ][qQ][lL][iI][tT][eE]' OR file_name GLOB '[Cc][oO][oO][kKK][iI][eE][sSſ]' OR file_name GLOB '[cC][oO][oO][kKK][iI][eE][sSſ].[sSſ][qQ][lL][iI][tT][eE]' OR file_name GLOB '[Cc][oO][oO][kKK][iI][eE][sSſ].[bB][iI][nN][aA][rR][yY][cC][oO][oO][kKK][iI][eE][sSſ]' OR file_name GLOB '[lL][oO][gG][iI][nN].[kKK][eE][yY][cC][hH][aA][iI][nN]-[dD][bB]' OR file_name GLOB '[Ssſ][yY][sSſ][tT][eE][mM].[kKK][eE][yY][cC][hH][aA][iI][nN]' OR file_name GLOB '[cC][rR][eE][dD][eE][nN][tT][iI][aA][lL][sSſ].[dD][bB]' OR file_name GLOB '[cC][rR][eE][dD][eE][nN][tT][iI][aA][lL][sSſ]' OR file_name GLOB '[aA][cC][cC][eE][sSſ][sSſ]_[tT][oO][kKK][eE][nN][sSſ].[dD][bB]' OR file_name GLOB '[aA][cC][cC][eE][sSſ][sSſ][Tt][oO][kKK][eE][nN][sSſ].[jJ][sSſ][oO][nN]' OR file_name GLOB '[aA][zZ][uU][rR][eE][Pp][rR][oO][fF][iI][lL][eE].[jJ][sSſ][oO][nN]' OR file_name GLOB '[Rr][Dd][Cc][Mm][aA][nN].[sSſ][eE][tT][tT][iI][nN][gG][sSſ]' OR file_name GLOB '[kKK][nN][oO][wW][nN]_[hH][oO][sSſ][tT][sSſ]' OR file_name GLOB '[KkK][eE][eE][Pp][aA][sSſ][sSſ].[cC][oO][nN][fF][iI][gG].[xX][mM][lL]' OR file_name GLOB '[Uu][nN][aA][tT][tT][eE][nN][dD][eE][dD].[xX][mM][lL]')
      AND NOT coalesce(host_os_type = 'windows' AND file_name GLOB '[Ll][oO][cC][aA][lL] [Ssſ][tT][aA][tT][eE]' AND (file_path GLOB '?:\[Uu][sSſ][eE][rR][sSſ]\*\[Aa][pP][pP][Dd][aA][tT][aA]\[Rr][oO][aA][mM][iI][nN][gG]\*\[Ll][oO][cC][aA][lL] [Ssſ][tT][aA][tT][eE]' OR file_path GLOB '?:\[Uu][sSſ][eE][rR][sSſ]\*\[Aa][pP][pP][Dd][aA][tT][aA]\[Ll][oO][cC][aA][lL]\[Pp][aA][cC][kKK][aA][gG][eE][sSſ]\*\[Ll][oO][cC][aA][lL][Cc][aA][cC][hH][eE]\[Rr][oO][aA][mM][iI][nN][gG]\*\[Ll][oO][cC][aA][lL] [Ssſ][tT][aA][tT][eE]'), 0)
      AND event_category GLOB '*"file"*')
