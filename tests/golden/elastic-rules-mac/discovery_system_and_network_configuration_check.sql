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
  AND host_os_type = 'macos'
  AND event_action = 'open'
  AND file_path = '/Library/Preferences/SystemConfiguration/preferences.plist'
  AND (process_name GLOB '[pP][yY][tT][hH][oO][nN]*' OR process_name GLOB '[oO][sSſ][aA][sSſ][cC][rR][iI][pP][tT]' OR process_name GLOB '[pP][eE][rR][lL]' OR process_name GLOB '[rR][uU][bB][yY]' OR process_name GLOB '[nN][oO][dD][eE]' OR process_executable GLOB '/Users/Shared/*' OR process_executable GLOB '/tmp/*' OR process_executable GLOB '/private/tmp/*' OR process_executable GLOB '/var/tmp/*' OR process_executable GLOB '/private/var/tmp/*')
  AND NOT coalesce(effective_process_executable = '/Applications/Docker.app/Contents/MacOS/Docker', 0)
  AND event_category GLOB '*"file"*'
  AND time IN (
    SELECT time
    FROM ecs_file_events
    WHERE time >= (SELECT unix_time FROM time) - 540
      AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'file')
      AND host_os_type = 'macos'
      AND event_action = 'open'
      AND file_path = '/Library/Preferences/SystemConfiguration/preferences.plist'
      AND (process_name GLOB '[pP][yY][tT][hH][oO][nN]*' OR process_name GLOB '[oO][sSſ][aA][sSſ][cC][rR][iI][pP][tT]' OR process_name GLOB '[pP][eE][rR][lL]' OR process_name GLOB '[rR][uU][bB][yY]' OR process_name GLOB '[nN][oO][dD][eE]' OR process_executable GLOB '/Users/Shared/*' OR process_executable GLOB '/tmp/*' OR process_executable GLOB '/private/tmp/*' OR process_executable GLOB '/var/tmp/*' OR process_executable GLOB '/private/var/tmp/*')
      AND NOT coalesce(effective_process_executable = '/Applications/Docker.app/Contents/MacOS/Docker', 0)
      AND event_category GLOB '*"file"*')
