time >= (SELECT unix_time FROM time) - 540
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'process')
  AND host_os_type = 'macos'
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_type, '')) WHERE value IN ('start', 'process_started'))
  AND event_action = 'exec'
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '/Users/*/Library/Keychains/*' OR value GLOB '/Library/Keychains/*' OR value GLOB 'login.keychain-db' OR value GLOB 'login.keychain')
  AND (NULLIF(process_code_signature_trusted, '') = 0 OR NULLIF(process_code_signature_exists, '') = 0 OR process_name IN ('bash', 'sh', 'zsh', 'osascript', 'cat', 'echo', 'cp') AND (NULLIF(process_parent_code_signature_trusted, '') = 0 OR NULLIF(process_parent_code_signature_exists, '') = 0))
  AND event_category GLOB '*"process"*'
  AND event_type GLOB '*start*'
  AND process_args GLOB '*eychain*'
  AND time IN (
    SELECT time
    FROM ecs_process_events
    WHERE time >= (SELECT unix_time FROM time) - 540
      AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'process')
      AND host_os_type = 'macos'
      AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_type, '')) WHERE value IN ('start', 'process_started'))
      AND event_action = 'exec'
      AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '/Users/*/Library/Keychains/*' OR value GLOB '/Library/Keychains/*' OR value GLOB 'login.keychain-db' OR value GLOB 'login.keychain')
      AND (NULLIF(process_code_signature_trusted, '') = 0 OR NULLIF(process_code_signature_exists, '') = 0 OR process_name IN ('bash', 'sh', 'zsh', 'osascript', 'cat', 'echo', 'cp') AND (NULLIF(process_parent_code_signature_trusted, '') = 0 OR NULLIF(process_parent_code_signature_exists, '') = 0))
      AND event_category GLOB '*"process"*'
      AND event_type GLOB '*start*'
      AND process_args GLOB '*eychain*')
