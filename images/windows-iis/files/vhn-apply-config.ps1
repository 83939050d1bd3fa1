# Makes this machine the honeypot its answer disk describes, at every boot (a scheduled task):
# the FAT volume labelled OEMSETUP (vhoneynet/answerdisk.py) holds config.json with the name,
# the address, router and resolvers, and the log sink's MAC (pinned: the sink answers no ARP).
# A new name needs one restart; the address is set at once.
param([string]$Label = "OEMSETUP")
$volume = $null
for ($i = 0; $i -lt 60 -and -not $volume; $i++) {
    $volume = Get-Volume -FileSystemLabel $Label -ErrorAction SilentlyContinue | Where-Object DriveLetter | Select-Object -First 1
    if (-not $volume) { Start-Sleep -Seconds 2 }
}
if (-not $volume) { exit 1 }
$c = Get-Content -Raw "$($volume.DriveLetter):\config.json" | ConvertFrom-Json
$nic = Get-NetAdapter | Where-Object { $_.MacAddress -eq ($c.mac -replace ":", "-").ToUpper() } | Select-Object -First 1
if (-not $nic) { $nic = Get-NetAdapter -Physical | Select-Object -First 1 }
Set-NetIPInterface -InterfaceIndex $nic.ifIndex -Dhcp Disabled
Get-NetIPAddress -InterfaceIndex $nic.ifIndex -AddressFamily IPv4 -ErrorAction SilentlyContinue | Remove-NetIPAddress -Confirm:$false
Remove-NetRoute -InterfaceIndex $nic.ifIndex -DestinationPrefix "0.0.0.0/0" -Confirm:$false -ErrorAction SilentlyContinue
New-NetIPAddress -InterfaceIndex $nic.ifIndex -IPAddress $c.address -PrefixLength $c.prefixlen -DefaultGateway $c.router | Out-Null
if ($c.resolvers) { Set-DnsClientServerAddress -InterfaceIndex $nic.ifIndex -ServerAddresses $c.resolvers }
Set-DnsClient -InterfaceIndex $nic.ifIndex -ConnectionSpecificSuffix $c.domain
New-NetNeighbor -InterfaceIndex $nic.ifIndex -IPAddress $c.syslog.host -LinkLayerAddress ($c.syslog.mac -replace ":", "-") -State Permanent -ErrorAction SilentlyContinue | Out-Null
if ($env:COMPUTERNAME -ne $c.hostname.ToUpper()) { Rename-Computer -NewName $c.hostname -Force -Restart }
