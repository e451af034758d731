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
  NULL AS event_outcome,
  NULL AS file_path,
  NULL AS file_name,
  NULL AS file_extension,
  NULL AS file_directory,
  NULL AS file_original_path,
  NULL AS file_original_name,
  NULL AS effective_process_pid,
  NULL AS effective_process_entity_id,
  NULL AS effective_process_executable,
  NULL AS effective_process_name,
  NULL AS persistence_name,
  NULL AS persistence_path,
  NULL AS persistence_executable,
  NULL AS source_ip,
  NULL AS source_port,
  NULL AS destination_ip,
  NULL AS destination_port,
  NULL AS source_address,
  NULL AS destination_address,
  NULL AS network_transport,
  NULL AS network_type,
  NULL AS network_direction
FROM ecs_process_events
WHERE time >= (SELECT unix_time FROM time) - 540
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'process')
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_type, '')) WHERE value = 'start')
  AND process_name IN ('nano', 'vim', 'vi', 'emacs', 'echo', 'sed')
  AND (EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '/[eE][tT][cC]/[hH][oO][sSſ][tT][sSſ]') OR process_working_directory = '/etc' AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value = 'hosts'))
  AND NOT coalesce(process_parent_name IN ('dhclient-script', 'google_set_hostname'), 0)
  AND NOT coalesce(process_command_line = 'sed -i /Added by Google/d /etc/hosts', 0)
  AND event_category GLOB '*"process"*'
  AND event_type GLOB '*"start"*'
  AND process_args GLOB '*[hH][oO][sSſ][tT][sSſ]"*'
  AND time IN (
    SELECT time
    FROM ecs_process_events
    WHERE time >= (SELECT unix_time FROM time) - 540
      AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'process')
      AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_type, '')) WHERE value = 'start')
      AND process_name IN ('nano', 'vim', 'vi', 'emacs', 'echo', 'sed')
      AND (EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '/[eE][tT][cC]/[hH][oO][sSſ][tT][sSſ]') OR process_working_directory = '/etc' AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value = 'hosts'))
      AND NOT coalesce(process_parent_name IN ('dhclient-script', 'google_set_hostname'), 0)
      AND NOT coalesce(process_command_line = 'sed -i /Added by Google/d /etc/hosts', 0)
      AND event_category GLOB '*"process"*'
      AND event_type GLOB '*"start"*'
      AND process_args GLOB '*[hH][oO][sSſ][tT][sSſ]"*')
UNION ALL
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
  persistence_executable,
  NULL AS source_ip,
  NULL AS source_port,
  NULL AS destination_ip,
  NULL AS destination_port,
  NULL AS source_address,
  NULL AS destination_address,
  NULL AS network_transport,
  NULL AS network_type,
  NULL AS network_direction
FROM ecs_file_events
WHERE time >= (SELECT unix_time FROM time) - 540
  AND (NULLIF(process_executable, '') IS NOT NULL AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'file') AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_type, '')) WHERE value IN ('change', 'creation')) AND NOT coalesce(event_action = 'rename', 0) AND (file_path GLOB '/[pP][rR][iI][vV][aA][tT][eE]/[eE][tT][cC]/[hH][oO][sSſ][tT][sSſ]' OR file_path GLOB '/[eE][tT][cC]/[hH][oO][sSſ][tT][sSſ]' OR file_path GLOB '?:\[Ww][iI][nN][dD][oO][wW][sSſ]\[Ssſ][yY][sSſ][tT][eE][mM]32\[dD][rR][iI][vV][eE][rR][sSſ]\[eE][tT][cC]\[hH][oO][sSſ][tT][sSſ]') AND NOT coalesce(process_name IN ('dockerd', 'rootlesskit', 'podman', 'crio'), 0) AND NOT coalesce(process_executable GLOB '[Cc]:\[Pp][rR][oO][gG][rR][aA][mM] [Ff][iI][lL][eE][sSſ]\[Ff][oO][rR][tT][iI][nN][eE][tT]\[Ff][oO][rR][tT][iI][Cc][lL][iI][eE][nN][tT]\[Ff][Cc][Dd][Bb][Ll][oO][gG].[eE][xX][eE]' OR process_executable GLOB '[Cc]:\[Pp][rR][oO][gG][rR][aA][mM] [Ff][iI][lL][eE][sSſ]\[Ff][oO][rR][tT][iI][nN][eE][tT]\[Ff][oO][rR][tT][iI][Cc][lL][iI][eE][nN][tT]\[Ff][oO][rR][tT][iI][Ww][Ff].[eE][xX][eE]' OR process_executable GLOB '[Cc]:\[Pp][rR][oO][gG][rR][aA][mM] [Ff][iI][lL][eE][sSſ]\[Ff][oO][rR][tT][iI][nN][eE][tT]\[Ff][oO][rR][tT][iI][Cc][lL][iI][eE][nN][tT]\[fF][mM][oO][nN].[eE][xX][eE]' OR process_executable GLOB '[Cc]:\[Pp][rR][oO][gG][rR][aA][mM] [Ff][iI][lL][eE][sSſ]\[Ssſ][eE][qQ][rR][iI][tT][eE]\[Ssſ][eE][qQ][rR][iI][tT][eE]\[Ssſ][Cc][Aa][Nn][Nn][Ee][Rr].[Ee][Xx][Ee]' OR process_executable GLOB '[Cc]:\[Ww][iI][nN][dD][oO][wW][sSſ]\[Ssſ][yY][sSſ][tT][eE][mM]32\[Ssſ][eE][aA][rR][cC][hH][Pp][rR][oO][tT][oO][cC][oO][lL][Hh][oO][sSſ][tT].[eE][xX][eE]' OR process_executable GLOB '[Cc]:\[Ww][iI][nN][dD][oO][wW][sSſ]\[Tt][eE][mM][pP]\*.[iI][nN][sSſ]\[iI][nN][sSſ][tT].[eE][xX][eE]' OR process_executable GLOB '[Cc]:\[Ww][iI][nN][dD][oO][wW][sSſ]\[Ssſ][yY][sSſ][tT][eE][mM]32\[sSſ][vV][cC][hH][oO][sSſ][tT].[eE][xX][eE]' OR process_executable GLOB '[Cc]:\[Pp][rR][oO][gG][rR][aA][mM] [Ff][iI][lL][eE][sSſ]\[Nn][oO][rR][dD][Vv][Pp][Nn]\[nN][oO][rR][dD][vV][pP][nN]-[sSſ][eE][rR][vV][iI][cC][eE].[eE][xX][eE]' OR process_executable GLOB '[Cc]:\[Pp][rR][oO][gG][rR][aA][mM] [Ff][iI][lL][eE][sSſ]\[Tt][aA][iI][lL][sSſ][cC][aA][lL][eE]\[tT][aA][iI][lL][sSſ][cC][aA][lL][eE][dD].[eE][xX][eE]' OR process_executable GLOB '[Cc]:\[Pp][rR][oO][gG][rR][aA][mM] [Ff][iI][lL][eE][sSſ]\[Dd][oO][cC][kKK][eE][rR]\[Dd][oO][cC][kKK][eE][rR]\[cC][oO][mM].[dD][oO][cC][kKK][eE][rR].[sSſ][eE][rR][vV][iI][cC][eE]' OR process_executable GLOB '[Cc]:\[Pp][rR][oO][gG][rR][aA][mM] [Ff][iI][lL][eE][sSſ]\[Dd][oO][cC][kKK][eE][rR]\[Dd][oO][cC][kKK][eE][rR]\[Ii][nN][sSſ][tT][aA][lL][lL][eE][rR][Cc][lL][iI].[eE][xX][eE]' OR process_executable GLOB '[Cc]:\[Pp][rR][oO][gG][rR][aA][mM] [Ff][iI][lL][eE][sSſ]\[Qq][uU][iI][cC][kKK] [Hh][eE][aA][lL]\[Qq][uU][iI][cC][kKK] [Hh][eE][aA][lL] [Aa][nN][tT][iI][Vv][iI][rR][uU][sSſ] [Pp][rR][oO]\[sSſ][cC][aA][nN][nN][eE][rR].[eE][xX][eE]' OR process_executable GLOB '[Cc]:\[Pp][rR][oO][gG][rR][aA][mM] [Ff][iI][lL][eE][sSſ] ([xX]86)\[Qq][uU][iI][cC][kKK] [Hh][eE][aA][lL] [Aa][nN][tT][iI][Vv][iI][rR][uU][sSſ] [Pp][rR][oO]\[Ssſ][Cc][Aa][Nn][Nn][Ee][Rr].[Ee][Xx][Ee]' OR process_executable GLOB '[Cc]:\[Pp][rR][oO][gG][rR][aA][mM] [Ff][iI][lL][eE][sSſ]\[Qq][uU][iI][cC][kKK] [Hh][eE][aA][lL]\[Qq][uU][iI][cC][kKK] [Hh][eE][aA][lL] [Ii][nN][tT][eE][rR][nN][eE][tT] [Ssſ][eE][cC][uU][rR][iI][tT][yY]\[sSſ][cC][aA][nN][nN][eE][rR].[eE][xX][eE]' OR process_executable GLOB '[Cc]:\[Pp][rR][oO][gG][rR][aA][mM] [Ff][iI][lL][eE][sSſ] ([xX]86)\[Cc][iI][sSſ][cC][oO]\[Cc][iI][sSſ][cC][oO] [Aa][nN][yY][Cc][oO][nN][nN][eE][cC][tT] [Ssſ][eE][cC][uU][rR][eE] [Mm][oO][bB][iI][lL][iI][tT][yY] [Cc][lL][iI][eE][nN][tT]\[vV][pP][nN][aA][gG][eE][nN][tT].[eE][xX][eE]' OR process_executable GLOB '/[Aa][pP][pP][lL][iI][cC][aA][tT][iI][oO][nN][sSſ]/[Pp][aA][rR][aA][lL][lL][eE][lL][sSſ] [Dd][eE][sSſ][kKK][tT][oO][pP].[aA][pP][pP]/[Cc][oO][nN][tT][eE][nN][tT][sSſ]/[Mm][aA][cC][Oo][Ssſ]/[pP][rR][lL]_[nN][aA][pP][tT][dD]' OR process_executable GLOB '/[oO][pP][tT]/[Ii][Bb][Mm]/[Ii][nN][fF][oO][rR][mM][aA][tT][iI][oO][nN][Ssſ][eE][rR][vV][eE][rR]/[Ssſ][eE][rR][vV][eE][rR]/[Dd][Ssſ][Ee][nN][gG][iI][nN][eE]/[bB][iI][nN]/[uU][vV][sSſ][hH]' OR process_executable GLOB '/[uU][sSſ][rR]/[lL][oO][cC][aA][lL]/[dD][eE][mM][iI][sSſ][tT][oO]/[sSſ][eE][rR][vV][eE][rR]' OR process_executable GLOB '/[uU][sSſ][rR]/[lL][oO][cC][aA][lL]/[bB][iI][nN]/[dD][eE][fF][eE][nN][dD][eE][rR]', 0) OR EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'process') AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_type, '')) WHERE value = 'start') AND process_name IN ('nano', 'vim', 'vi', 'emacs', 'echo', 'sed') AND (EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '/[eE][tT][cC]/[hH][oO][sSſ][tT][sSſ]') OR process_working_directory = '/etc' AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value = 'hosts')) AND NOT coalesce(process_parent_name IN ('dhclient-script', 'google_set_hostname'), 0) AND NOT coalesce(process_command_line = 'sed -i /Added by Google/d /etc/hosts', 0))
  AND time IN (
    SELECT time
    FROM ecs_file_events
    WHERE time >= (SELECT unix_time FROM time) - 540
      AND (NULLIF(process_executable, '') IS NOT NULL AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'file') AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_type, '')) WHERE value IN ('change', 'creation')) AND NOT coalesce(event_action = 'rename', 0) AND (file_path GLOB '/[pP][rR][iI][vV][aA][tT][eE]/[eE][tT][cC]/[hH][oO][sSſ][tT][sSſ]' OR file_path GLOB '/[eE][tT][cC]/[hH][oO][sSſ][tT][sSſ]' OR file_path GLOB '?:\[Ww][iI][nN][dD][oO][wW][sSſ]\[Ssſ][yY][sSſ][tT][eE][mM]32\[dD][rR][iI][vV][eE][rR][sSſ]\[eE][tT][cC]\[hH][oO][sSſ][tT][sSſ]') AND NOT coalesce(process_name IN ('dockerd', 'rootlesskit', 'podman', 'crio'), 0) AND NOT coalesce(process_executable GLOB '[Cc]:\[Pp][rR][oO][gG][rR][aA][mM] [Ff][iI][lL][eE][sSſ]\[Ff][oO][rR][tT][iI][nN][eE][tT]\[Ff][oO][rR][tT][iI][Cc][lL][iI][eE][nN][tT]\[Ff][Cc][Dd][Bb][Ll][oO][gG].[eE][xX][eE]' OR process_executable GLOB '[Cc]:\[Pp][rR][oO][gG][rR][aA][mM] [Ff][iI][lL][eE][sSſ]\[Ff][oO][rR][tT][iI][nN][eE][tT]\[Ff][oO][rR][tT][iI][Cc][lL][iI][eE][nN][tT]\[Ff][oO][rR][tT][iI][Ww][Ff].[eE][xX][eE]' OR process_executable GLOB '[Cc]:\[Pp][rR][oO][gG][rR][aA][mM] [Ff][iI][lL][eE][sSſ]\[Ff][oO][rR][tT][iI][nN][eE][tT]\[Ff][oO][rR][tT][iI][Cc][lL][iI][eE][nN][tT]\[fF][mM][oO][nN].[eE][xX][eE]' OR process_executable GLOB '[Cc]:\[Pp][rR][oO][gG][rR][aA][mM] [Ff][iI][lL][eE][sSſ]\[Ssſ][eE][qQ][rR][iI][tT][eE]\[Ssſ][eE][qQ][rR][iI][tT][eE]\[Ssſ][Cc][Aa][Nn][Nn][Ee][Rr].[Ee][Xx][Ee]' OR process_executable GLOB '[Cc]:\[Ww][iI][nN][dD][oO][wW][sSſ]\[Ssſ][yY][sSſ][tT][eE][mM]32\[Ssſ][eE][aA][rR][cC][hH][Pp][rR][oO][tT][oO][cC][oO][lL][Hh][oO][sSſ][tT].[eE][xX][eE]' OR process_executable GLOB '[Cc]:\[Ww][iI][nN][dD][oO][wW][sSſ]\[Tt][eE][mM][pP]\*.[iI][nN][sSſ]\[iI][nN][sSſ][tT].[eE][xX][eE]' OR process_executable GLOB '[Cc]:\[Ww][iI][nN][dD][oO][wW][sSſ]\[Ssſ][yY][sSſ][tT][eE][mM]32\[sSſ][vV][cC][hH][oO][sSſ][tT].[eE][xX][eE]' OR process_executable GLOB '[Cc]:\[Pp][rR][oO][gG][rR][aA][mM] [Ff][iI][lL][eE][sSſ]\[Nn][oO][rR][dD][Vv][Pp][Nn]\[nN][oO][rR][dD][vV][pP][nN]-[sSſ][eE][rR][vV][iI][cC][eE].[eE][xX][eE]' OR process_executable GLOB '[Cc]:\[Pp][rR][oO][gG][rR][aA][mM] [Ff][iI][lL][eE][sSſ]\[Tt][aA][iI][lL][sSſ][cC][aA][lL][eE]\[tT][aA][iI][lL][sSſ][cC][aA][lL][eE][dD].[eE][xX][eE]' OR process_executable GLOB '[Cc]:\[Pp][rR][oO][gG][rR][aA][mM] [Ff][iI][lL][eE][sSſ]\[Dd][oO][cC][kKK][eE][rR]\[Dd][oO][cC][kKK][eE][rR]\[cC][oO][mM].[dD][oO][cC][kKK][eE][rR].[sSſ][eE][rR][vV][iI][cC][eE]' OR process_executable GLOB '[Cc]:\[Pp][rR][oO][gG][rR][aA][mM] [Ff][iI][lL][eE][sSſ]\[Dd][oO][cC][kKK][eE][rR]\[Dd][oO][cC][kKK][eE][rR]\[Ii][nN][sSſ][tT][aA][lL][lL][eE][rR][Cc][lL][iI].[eE][xX][eE]' OR process_executable GLOB '[Cc]:\[Pp][rR][oO][gG][rR][aA][mM] [Ff][iI][lL][eE][sSſ]\[Qq][uU][iI][cC][kKK] [Hh][eE][aA][lL]\[Qq][uU][iI][cC][kKK] [Hh][eE][aA][lL] [Aa][nN][tT][iI][Vv][iI][rR][uU][sSſ] [Pp][rR][oO]\[sSſ][cC][aA][nN][nN][eE][rR].[eE][xX][eE]' OR process_executable GLOB '[Cc]:\[Pp][rR][oO][gG][rR][aA][mM] [Ff][iI][lL][eE][sSſ] ([xX]86)\[Qq][uU][iI][cC][kKK] [Hh][eE][aA][lL] [Aa][nN][tT][iI][Vv][iI][rR][uU][sSſ] [Pp][rR][oO]\[Ssſ][Cc][Aa][Nn][Nn][Ee][Rr].[Ee][Xx][Ee]' OR process_executable GLOB '[Cc]:\[Pp][rR][oO][gG][rR][aA][mM] [Ff][iI][lL][eE][sSſ]\[Qq][uU][iI][cC][kKK] [Hh][eE][aA][lL]\[Qq][uU][iI][cC][kKK] [Hh][eE][aA][lL] [Ii][nN][tT][eE][rR][nN][eE][tT] [Ssſ][eE][cC][uU][rR][iI][tT][yY]\[sSſ][cC][aA][nN][nN][eE][rR].[eE][xX][eE]' OR process_executable GLOB '[Cc]:\[Pp][rR][oO][gG][rR][aA][mM] [Ff][iI][lL][eE][sSſ] ([xX]86)\[Cc][iI][sSſ][cC][oO]\[Cc][iI][sSſ][cC][oO] [Aa][nN][yY][Cc][oO][nN][nN][eE][cC][tT] [Ssſ][eE][cC][uU][rR][eE] [Mm][oO][bB][iI][lL][iI][tT][yY] [Cc][lL][iI][eE][nN][tT]\[vV][pP][nN][aA][gG][eE][nN][tT].[eE][xX][eE]' OR process_executable GLOB '/[Aa][pP][pP][lL][iI][cC][aA][tT][iI][oO][nN][sSſ]/[Pp][aA][rR][aA][lL][lL][eE][lL][sSſ] [Dd][eE][sSſ][kKK][tT][oO][pP].[aA][pP][pP]/[Cc][oO][nN][tT][eE][nN][tT][sSſ]/[Mm][aA][cC][Oo][Ssſ]/[pP][rR][lL]_[nN][aA][pP][tT][dD]' OR process_executable GLOB '/[oO][pP][tT]/[Ii][Bb][Mm]/[Ii][nN][fF][oO][rR][mM][aA][tT][iI][oO][nN][Ssſ][eE][rR][vV][eE][rR]/[Ssſ][eE][rR][vV][eE][rR]/[Dd][Ssſ][Ee][nN][gG][iI][nN][eE]/[bB][iI][nN]/[uU][vV][sSſ][hH]' OR process_executable GLOB '/[uU][sSſ][rR]/[lL][oO][cC][aA][lL]/[dD][eE][mM][iI][sSſ][tT][oO]/[sSſ][eE][rR][vV][eE][rR]' OR process_executable GLOB '/[uU][sSſ][rR]/[lL][oO][cC][aA][lL]/[bB][iI][nN]/[dD][eE][fF][eE][nN][dD][eE][rR]', 0) OR EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'process') AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_type, '')) WHERE value = 'start') AND process_name IN ('nano', 'vim', 'vi', 'emacs', 'echo', 'sed') AND (EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '/[eE][tT][cC]/[hH][oO][sSſ][tT][sSſ]') OR process_working_directory = '/etc' AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value = 'hosts')) AND NOT coalesce(process_parent_name IN ('dhclient-script', 'google_set_hostname'), 0) AND NOT coalesce(process_command_line = 'sed -i /Added by Google/d /etc/hosts', 0)))
UNION ALL
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
  NULL AS file_path,
  NULL AS file_name,
  NULL AS file_extension,
  NULL AS file_directory,
  NULL AS file_original_path,
  NULL AS file_original_name,
  NULL AS effective_process_pid,
  NULL AS effective_process_entity_id,
  NULL AS effective_process_executable,
  NULL AS effective_process_name,
  NULL AS persistence_name,
  NULL AS persistence_path,
  NULL AS persistence_executable,
  source_ip,
  source_port,
  destination_ip,
  destination_port,
  source_address,
  destination_address,
  network_transport,
  network_type,
  network_direction
FROM ecs_network_events
WHERE time >= (SELECT unix_time FROM time) - 540
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'process')
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_type, '')) WHERE value = 'start')
  AND process_name IN ('nano', 'vim', 'vi', 'emacs', 'echo', 'sed')
  AND (EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '/[eE][tT][cC]/[hH][oO][sSſ][tT][sSſ]') OR process_working_directory = '/etc' AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value = 'hosts'))
  AND NOT coalesce(process_parent_name IN ('dhclient-script', 'google_set_hostname'), 0)
  AND NOT coalesce(process_command_line = 'sed -i /Added by Google/d /etc/hosts', 0)
  AND event_category GLOB '*"process"*'
  AND event_type GLOB '*"start"*'
  AND process_args GLOB '*[hH][oO][sSſ][tT][sSſ]"*'
  AND time IN (
    SELECT time
    FROM ecs_network_events
    WHERE time >= (SELECT unix_time FROM time) - 540
      AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'process')
      AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_type, '')) WHERE value = 'start')
      AND process_name IN ('nano', 'vim', 'vi', 'emacs', 'echo', 'sed')
      AND (EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '/[eE][tT][cC]/[hH][oO][sSſ][tT][sSſ]') OR process_working_directory = '/etc' AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value = 'hosts'))
      AND NOT coalesce(process_parent_name IN ('dhclient-script', 'google_set_hostname'), 0)
      AND NOT coalesce(process_command_line = 'sed -i /Added by Google/d /etc/hosts', 0)
      AND event_category GLOB '*"process"*'
      AND event_type GLOB '*"start"*'
      AND process_args GLOB '*[hH][oO][sSſ][tT][sSſ]"*')
