time >= (SELECT unix_time FROM time) - 540
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'process')
  AND host_os_type = 'macos'
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_type, '')) WHERE value = 'start')
  AND event_action = 'exec'
  AND process_command_line GLOB '*csrutil*status*'
  AND process_command_line GLOB '*enabled*'
  AND (process_parent_executable GLOB '/*.app/*' OR process_parent_executable GLOB '/Applications/*.app/*' OR process_parent_executable GLOB '/Volumes/*.app/*')
  AND NOT coalesce(process_parent_executable = '/Library/Application Support/Mosyle/MosyleMDM.app/Contents/MacOS/MosyleMDM', 0)
  AND event_category GLOB '*"process"*'
  AND event_type GLOB '*"start"*'
  AND process_parent_executable GLOB '*.app/*'
  AND time IN (
    SELECT time
    FROM ecs_process_events
    WHERE time >= (SELECT unix_time FROM time) - 540
      AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'process')
      AND host_os_type = 'macos'
      AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_type, '')) WHERE value = 'start')
      AND event_action = 'exec'
      AND process_command_line GLOB '*csrutil*status*'
      AND process_command_line GLOB '*enabled*'
      AND (process_parent_executable GLOB '/*.app/*' OR process_parent_executable GLOB '/Applications/*.app/*' OR process_parent_executable GLOB '/Volumes/*.app/*')
      AND NOT coalesce(process_parent_executable = '/Library/Application Support/Mosyle/MosyleMDM.app/Contents/MacOS/MosyleMDM', 0)
      AND event_category GLOB '*"process"*'
      AND event_type GLOB '*"start"*'
      AND process_parent_executable GLOB '*.app/*')
