WITH hits AS MATERIALIZED (
  SELECT time, json_array(time, process_name, process_args, host_os_type, process_parent_code_signature_trusted, process_parent_executable, process_parent_name, process_parent_args, process_executable) AS _key
  FROM ecs_process_events
  WHERE time >= (SELECT unix_time FROM time) - 540
    AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'process')
    AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_type, '')) WHERE value = 'start')
    AND ((process_name GLOB '[nN][eE][tT].[eE][xX][eE]' OR process_name GLOB '[sSſ][cC].[eE][xX][eE]' OR process_name GLOB '[wW][mM][iI][cC].[eE][xX][eE]' OR process_name GLOB '[pP][oO][wW][eE][rR][sSſ][hH][eE][lL][lL].[eE][xX][eE]' OR process_name GLOB '[tT][aA][sSſ][kKK][kKK][iI][lL][lL].[eE][xX][eE]' OR process_name GLOB '[Pp][sSſ][KkK][iI][lL][lL].[eE][xX][eE]' OR process_name GLOB '[Pp][rR][oO][cC][eE][sSſ][sSſ][Hh][aA][cC][kKK][eE][rR].[eE][xX][eE]') AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '[sSſ][tT][oO][pP][sSſ][eE][rR][vV][iI][cC][eE]' OR value GLOB '[uU][nN][iI][nN][sSſ][tT][aA][lL][lL]' OR value GLOB '[sSſ][tT][oO][pP]' OR value GLOB '[dD][iI][sSſ][aA][bB][lL][eE][dD]' OR value GLOB '[Ssſ][tT][oO][pP]-[Pp][rR][oO][cC][eE][sSſ][sSſ]' OR value GLOB '[tT][eE][rR][mM][iI][nN][aA][tT][eE]' OR value GLOB '[sSſ][uU][sSſ][pP][eE][nN][dD]') AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '[eE][lL][aA][sSſ][tT][iI][cC][eE][nN][dD][pP][oO][iI][nN][tT]' OR value GLOB '[Ee][lL][aA][sSſ][tT][iI][cC] [Aa][gG][eE][nN][tT]' OR value GLOB '[eE][lL][aA][sSſ][tT][iI][cC]-[aA][gG][eE][nN][tT]' OR value GLOB '[eE][lL][aA][sSſ][tT][iI][cC]-[eE][nN][dD][pP][oO][iI][nN][tT]') OR host_os_type = 'windows' AND (process_name GLOB '[eE][lL][aA][sSſ][tT][iI][cC]-[aA][gG][eE][nN][tT].[eE][xX][eE]' OR process_name GLOB '[eE][nN][dD][pP][oO][iI][nN][tT]-[sSſ][eE][cC][uU][rR][iI][tT][yY].[eE][xX][eE]' OR process_name GLOB '[eE][lL][aA][sSſ][tT][iI][cC]-[eE][nN][dD][pP][oO][iI][nN][tT].[eE][xX][eE]') AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '[uU][nN][iI][nN][sSſ][tT][aA][lL][lL]') AND NOT coalesce(NULLIF(process_parent_code_signature_trusted, '') = 1 AND (process_name GLOB '[eE][lL][aA][sSſ][tT][iI][cC]-[aA][gG][eE][nN][tT].[eE][xX][eE]' AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '--[fF][oO][rR][cC][eE]') AND process_parent_name GLOB '[eE][lL][aA][sSſ][tT][iI][cC]-[aA][gG][eE][nN][tT].[eE][xX][eE]' AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_parent_args, '')) WHERE value GLOB '[iI][nN][sSſ][tT][aA][lL][lL]') AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_parent_args, '')) WHERE value GLOB '--[fF][oO][rR][cC][eE]' OR value GLOB '-[fF]') OR process_parent_name GLOB '[eE][nN][dD][pP][oO][iI][nN][tT]-[sSſ][eE][cC][uU][rR][iI][tT][yY].[eE][xX][eE]' AND process_executable GLOB '*\[cC][oO][mM][pP][oO][nN][eE][nN][tT][sSſ]\[pP][rR][eE][vV][iI][oO][uU][sSſ]\[eE][lL][aA][sSſ][tT][iI][cC]-[eE][nN][dD][pP][oO][iI][nN][tT].[eE][xX][eE]' AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '--[kKK][eE][eE][pP][sSſ][tT][aA][tT][eE]') AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_parent_args, '')) WHERE value GLOB '--[uU][pP][gG][rR][aA][dD][eE]') OR process_name GLOB '[eE][nN][dD][pP][oO][iI][nN][tT]-[sSſ][eE][cC][uU][rR][iI][tT][yY].[eE][xX][eE]' AND process_parent_name GLOB '[eE][lL][aA][sSſ][tT][iI][cC]-[aA][gG][eE][nN][tT].[eE][xX][eE]' AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_parent_args, '')) WHERE value GLOB '[uU][nN][iI][nN][sSſ][tT][aA][lL][lL]')) AND (CASE WHEN process_parent_executable GLOB '/*' THEN (SELECT NULLIF(authority, '') FROM signature WHERE path = process_parent_executable AND arch = '' AND hash_resources = 0 AND hash_executable = 0 LIMIT 1) END) = 'Elasticsearch, Inc.', 0) OR process_name IN ('systemctl', 'service', 'chkconfig', 'update-rc.d') AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '[eE][lL][aA][sSſ][tT][iI][cC]-[aA][gG][eE][nN][tT]' OR value GLOB '[eE][lL][aA][sSſ][tT][iI][cC]-[aA][gG][eE][nN][tT].[sSſ][eE][rR][vV][iI][cC][eE]' OR value GLOB '[Ee][lL][aA][sSſ][tT][iI][cC][Ee][nN][dD][pP][oO][iI][nN][tT]') AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '[sSſ][tT][oO][pP]' OR value GLOB '[dD][iI][sSſ][aA][bB][lL][eE]' OR value GLOB '[rR][eE][mM][oO][vV][eE]' OR value GLOB '[oO][fF][fF]' OR value GLOB '[kKK][iI][lL][lL]' OR value GLOB '[mM][aA][sSſ][kKK]') AND NOT coalesce(process_parent_executable GLOB '/[oO][pP][tT]/[Ee][lL][aA][sSſ][tT][iI][cC]/[Aa][gG][eE][nN][tT]/[dD][aA][tT][aA]/[eE][lL][aA][sSſ][tT][iI][cC]-[aA][gG][eE][nN][tT]-*/[cC][oO][mM][pP][oO][nN][eE][nN][tT][sSſ]/[pP][rR][eE][vV][iI][oO][uU][sSſ]/[eE][lL][aA][sSſ][tT][iI][cC]-[eE][nN][dD][pP][oO][iI][nN][tT]' AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_parent_args, '')) WHERE value GLOB '[uU][nN][iI][nN][sSſ][tT][aA][lL][lL]') AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_parent_args, '')) WHERE value GLOB '--[kKK][eE][eE][pP][sSſ][tT][aA][tT][eE]'), 0) OR process_name IN ('pkill', 'killall', 'kill') AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '[eE][lL][aA][sSſ][tT][iI][cC]-[aA][gG][eE][nN][tT]' OR value GLOB '[eE][lL][aA][sSſ][tT][iI][cC]-[eE][nN][dD][pP][oO][iI][nN][tT]') OR process_name GLOB '[kKK][eE][xX][tT][uU][nN][lL][oO][aA][dD]' AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '[cC][oO][mM].[aA][pP][pP][lL][eE].[iI][oO][kKK][iI][tT].[Ee][nN][dD][pP][oO][iI][nN][tT][Ssſ][eE][cC][uU][rR][iI][tT][yY]'))
    AND event_category GLOB '*"process"*'
    AND event_type GLOB '*"start"*'
)
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
  group_id
FROM ecs_process_events
WHERE time >= (SELECT unix_time FROM time) - 540
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'process')
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_type, '')) WHERE value = 'start')
  AND event_category GLOB '*"process"*'
  AND event_type GLOB '*"start"*'
  AND time IN (SELECT time FROM hits)
  AND json_array(time, process_name, process_args, host_os_type, process_parent_code_signature_trusted, process_parent_executable, process_parent_name, process_parent_args, process_executable) IN (SELECT _key FROM hits)
