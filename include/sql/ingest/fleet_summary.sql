-- One line per account: devices (active / total), devices with a live fix, the freshest fix, fixes,
-- trips and their km, parking and idling events, alarms, OBD readings.
SELECT
    d.account,
    count(*) FILTER (WHERE d.is_active)                                   AS active_devices,
    count(*)                                                              AS devices,
    count(lp.imei)                                                        AS with_live_fix,
    max(lp.gps_time)                                                      AS latest_fix,
    coalesce(sum(ph.fixes), 0)                                            AS fixes,
    coalesce(sum(tr.trips), 0)                                            AS trips,
    coalesce(round(sum(tr.km), 1), 0)                                     AS trip_km,
    coalesce(sum(pe.parked), 0)                                           AS parking_events,
    coalesce(sum(pe.idling), 0)                                           AS idling_events,
    coalesce(sum(al.alarms), 0)                                           AS alarms,
    coalesce(sum(ob.readings), 0)                                         AS obd_readings
FROM tracksolid.devices d
LEFT JOIN tracksolid.live_positions lp ON lp.imei = d.imei
LEFT JOIN (SELECT imei, count(*) AS fixes FROM tracksolid.position_history GROUP BY imei) ph ON ph.imei = d.imei
LEFT JOIN (SELECT imei, count(*) AS trips, sum(distance_km) AS km FROM tracksolid.trips GROUP BY imei) tr
    ON tr.imei = d.imei
LEFT JOIN (SELECT imei, count(*) FILTER (WHERE acc_type = 'off') AS parked,
                  count(*) FILTER (WHERE acc_type = 'on') AS idling
           FROM tracksolid.parking_events GROUP BY imei) pe ON pe.imei = d.imei
LEFT JOIN (SELECT imei, count(*) AS alarms FROM tracksolid.alarms GROUP BY imei) al ON al.imei = d.imei
LEFT JOIN (SELECT imei, count(*) AS readings FROM tracksolid.obd_readings GROUP BY imei) ob ON ob.imei = d.imei
GROUP BY d.account
ORDER BY d.account;
