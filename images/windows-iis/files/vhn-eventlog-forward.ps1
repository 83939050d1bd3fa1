# Forwards new Windows event-log records to the honeynet's syslog sink as RFC 5424 over UDP.
# Windows' own forwarding (wecutil / WEF subscriptions) needs a Windows Event Collector; the
# honeynet collects syslog, so this small loop does the job, started at boot by a scheduled task.
param([string]$LogHost = "{{LOGHOST}}", [int]$Port = 514)
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
