-- Daily report: alarms of the local day per city and type, most frequent first.
SELECT coalesce(nullif(d.assigned_city, ''), 'Unassigned')  AS city,
       a.alarm_type,
       coalesce(max(nullif(a.alarm_name, '')), a.alarm_type) AS alarm_name,
       coalesce(max(c.alarm_class), 'other')                 AS alarm_class,
       count(*)                                              AS alarms,
       count(DISTINCT a.imei)                                AS vehicles
FROM bronze.alarms a
LEFT JOIN gold.alarm_classes c ON c.alarm_type = a.alarm_type
LEFT JOIN bronze.devices d ON d.imei = a.imei
WHERE a.alarm_time >= %(day_start)s AND a.alarm_time < %(day_end)s
GROUP BY 1, 2
ORDER BY alarms DESC, city, a.alarm_type
