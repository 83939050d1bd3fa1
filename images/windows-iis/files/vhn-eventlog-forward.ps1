# Forwards new Windows event-log records to the honeynet's syslog sink as RFC 5424 over UDP
# (the sink takes UDP datagrams only). Windows' own forwarding (wecutil / WEF subscriptions)
# needs a Windows Event Collector; the honeynet collects syslog, so this small loop does the job,
# started at boot by a scheduled task. Where the sink is comes from the honeypot's answer disk:
# the FAT volume labelled OEMSETUP (vhoneynet/answerdisk.py), config.json's `syslog`.
param([string]$Label = "OEMSETUP")
$config = $null
while ($null -eq $config) {
    $volume = Get-Volume -FileSystemLabel $Label -ErrorAction SilentlyContinue | Where-Object DriveLetter | Select-Object -First 1
    if ($volume) { $config = Get-Content -Raw "$($volume.DriveLetter):\config.json" | ConvertFrom-Json }
    else { Start-Sleep -Seconds 5 }
}
$LogHost = $config.syslog.host
$Port = [int]$config.syslog.port
$udp = New-Object System.Net.Sockets.UdpClient
$hostname = $env:COMPUTERNAME
$since = Get-Date
while ($true) {
    Start-Sleep -Seconds 5
    $now = Get-Date
    foreach ($log in "Security", "System", "Application", "Microsoft-IIS-Configuration/Operational") {
        $events = Get-WinEvent -FilterHashtable @{LogName = $log; StartTime = $since} -ErrorAction SilentlyContinue
        foreach ($e in ($events | Sort-Object TimeCreated)) {
            $msg = ($e.Message -replace "\s+", " ")
            if ($msg.Length -gt 1500) { $msg = $msg.Substring(0, 1500) }
            $line = "<{0}>1 {1} {2} {3} - {4} - {5}" -f (8 * 13 + 6), $e.TimeCreated.ToUniversalTime().ToString("o"),
                $hostname, ($e.ProviderName -replace " ", "-"), $e.Id, $msg
            $bytes = [System.Text.Encoding]::UTF8.GetBytes($line)
            [void]$udp.Send($bytes, $bytes.Length, $LogHost, $Port)
        }
    }
    $since = $now
}
