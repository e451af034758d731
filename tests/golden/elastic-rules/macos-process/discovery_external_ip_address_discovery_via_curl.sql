time >= (SELECT unix_time FROM time) - 540
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'process')
  AND host_os_type = 'macos'
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_type, '')) WHERE value = 'start')
  AND event_action = 'exec'
  AND (process_parent_executable GLOB '/Applications/*' OR process_parent_executable GLOB '/Volumes/*' OR process_parent_executable GLOB '/private/var/folders/*' OR process_parent_name IN ('bash', 'sh', 'zsh') AND process_parent_command_line GLOB '*http*' OR NULLIF(process_parent_code_signature_trusted, '') = 0 OR NULLIF(process_parent_code_signature_exists, '') = 0 OR NULLIF(process_code_signature_exists, '') = 0)
  AND process_name IN ('curl', 'nscurl')
  AND NULLIF(process_args_count, '') <= 5
  AND (process_command_line GLOB '*ip-api.com*' OR process_command_line GLOB '*ipwho.is*' OR process_command_line GLOB '*checkip.dyndns.org*' OR process_command_line GLOB '*api.ipify.org*' OR process_command_line GLOB '*whatismyip.akamai.com*' OR process_command_line GLOB '*ifcfg.me*' OR process_command_line GLOB '*ifconfig.me*' OR process_command_line GLOB '*ident.me*' OR process_command_line GLOB '*icanhazip.com*' OR process_command_line GLOB '*ipecho.net*' OR process_command_line GLOB '*api.myip.com*' OR process_command_line GLOB '*checkip.amazonaws.com*' OR process_command_line GLOB '*wtfismyip.com*' OR process_command_line GLOB '*iplogger.*' OR process_command_line GLOB '*freegeoip.net*' OR process_command_line GLOB '*ipinfo.io*' OR process_command_line GLOB '*geoplugin.net*' OR process_command_line GLOB '*httpbin.org*' OR process_command_line GLOB '*myip.opendns.com*')
  AND event_category GLOB '*"process"*'
  AND event_type GLOB '*"start"*'
  AND time IN (
    SELECT time
    FROM ecs_process_events
    WHERE time >= (SELECT unix_time FROM time) - 540
      AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'process')
      AND host_os_type = 'macos'
      AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_type, '')) WHERE value = 'start')
      AND event_action = 'exec'
      AND (process_parent_executable GLOB '/Applications/*' OR process_parent_executable GLOB '/Volumes/*' OR process_parent_executable GLOB '/private/var/folders/*' OR process_parent_name IN ('bash', 'sh', 'zsh') AND process_parent_command_line GLOB '*http*' OR NULLIF(process_parent_code_signature_trusted, '') = 0 OR NULLIF(process_parent_code_signature_exists, '') = 0 OR NULLIF(process_code_signature_exists, '') = 0)
      AND process_name IN ('curl', 'nscurl')
      AND NULLIF(process_args_count, '') <= 5
      AND (process_command_line GLOB '*ip-api.com*' OR process_command_line GLOB '*ipwho.is*' OR process_command_line GLOB '*checkip.dyndns.org*' OR process_command_line GLOB '*api.ipify.org*' OR process_command_line GLOB '*whatismyip.akamai.com*' OR process_command_line GLOB '*ifcfg.me*' OR process_command_line GLOB '*ifconfig.me*' OR process_command_line GLOB '*ident.me*' OR process_command_line GLOB '*icanhazip.com*' OR process_command_line GLOB '*ipecho.net*' OR process_command_line GLOB '*api.myip.com*' OR process_command_line GLOB '*checkip.amazonaws.com*' OR process_command_line GLOB '*wtfismyip.com*' OR process_command_line GLOB '*iplogger.*' OR process_command_line GLOB '*freegeoip.net*' OR process_command_line GLOB '*ipinfo.io*' OR process_command_line GLOB '*geoplugin.net*' OR process_command_line GLOB '*httpbin.org*' OR process_command_line GLOB '*myip.opendns.com*')
      AND event_category GLOB '*"process"*'
      AND event_type GLOB '*"start"*')
