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
  AND host_os_type IN ('linux', 'macos')
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_type, '')) WHERE value = 'change')
  AND NOT coalesce(event_action IN ('rename', 'extended_attributes_delete'), 0)
  AND file_name IN ('.bash_profile', '.profile', '.bashrc', '.zshenv', '.zshrc')
  AND (file_path GLOB '/home/*' OR file_path GLOB '/Users/*')
  AND NULLIF(process_name, '') IS NOT NULL
  AND NOT coalesce(process_name IN ('sudo', 'vim', 'zsh', 'env', 'nano', 'bash', 'Terminal', 'xpcproxy', 'login', 'cat', 'cp', 'launchctl', 'java', 'dnf', 'tailwatchd', 'ldconfig', 'yum', 'semodule', 'cpanellogd', 'dockerd', 'authselect', 'chmod', 'dnf-automatic', 'git', 'dpkg', 'platform-python'), 0)
  AND NOT coalesce(process_executable GLOB '/Applications/*' OR process_executable GLOB '/private/var/folders/*' OR process_executable GLOB '/usr/local/*' OR process_executable GLOB '/opt/saltstack/salt/bin/*', 0)
  AND event_category GLOB '*"file"*'
  AND event_type GLOB '*"change"*'
  AND time IN (
    SELECT time
    FROM ecs_file_events
    WHERE time >= (SELECT unix_time FROM time) - 540
      AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'file')
      AND host_os_type IN ('linux', 'macos')
      AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_type, '')) WHERE value = 'change')
      AND NOT coalesce(event_action IN ('rename', 'extended_attributes_delete'), 0)
      AND file_name IN ('.bash_profile', '.profile', '.bashrc', '.zshenv', '.zshrc')
      AND (file_path GLOB '/home/*' OR file_path GLOB '/Users/*')
      AND NULLIF(process_name, '') IS NOT NULL
      AND NOT coalesce(process_name IN ('sudo', 'vim', 'zsh', 'env', 'nano', 'bash', 'Terminal', 'xpcproxy', 'login', 'cat', 'cp', 'launchctl', 'java', 'dnf', 'tailwatchd', 'ldconfig', 'yum', 'semodule', 'cpanellogd', 'dockerd', 'authselect', 'chmod', 'dnf-automatic', 'git', 'dpkg', 'platform-python'), 0)
      AND NOT coalesce(process_executable GLOB '/Applications/*' OR process_executable GLOB '/private/var/folders/*' OR process_executable GLOB '/usr/local/*' OR process_executable GLOB '/opt/saltstack/salt/bin/*', 0)
      AND event_category GLOB '*"file"*'
      AND event_type GLOB '*"change"*')
