<?php
/*
 * Renders the charts of one icingaweb2-module-graphite template file with the module's own
 * code, as Icinga Web 2 does for a service's detail view, without web server or database.
 *
 * Usage: ICINGAWEB_CONFIGDIR=DIR php graphite_module.php TEMPLATE.ini GRAPHITE_URL OUTDIR \
 *            HOST SERVICE CHECK_COMMAND SECONDS WIDTH HEIGHT LEGEND(0|1)
 * Prints JSON: one entry per chart with its template, curves and metrics, and the PNG file.
 */

require_once '/usr/share/php/Icinga/Application/EmbeddedWeb.php';

use Icinga\Application\EmbeddedWeb;
use Icinga\Module\Graphite\Graphing\GraphiteWebClient;
use Icinga\Module\Graphite\Graphing\MetricsDataSource;
use Icinga\Module\Graphite\Graphing\Templates;
use Icinga\Module\Graphite\Web\Widget\GraphImage;
use Icinga\Web\Url;

[, $ini, $graphiteUrl, $outdir, $host, $service, $command, $seconds, $width, $height, $legend] = $argv;

EmbeddedWeb::start('/usr/share/icingaweb2', getenv('ICINGAWEB_CONFIGDIR'));

$templates = (new Templates())->loadIni($ini);
$dataSource = new MetricsDataSource(new GraphiteWebClient(Url::fromPath($graphiteUrl)));
$filter = ['host.name' => $host, 'service.name' => $service, 'service.check_command' => $command];

$charts = [];
foreach ($templates->getTemplates($command) as $name => $template) {
    foreach ($template->getCharts($dataSource, null, $filter) as $index => $chart) {
        $chart->setFrom("-$seconds")->setWidth($width)->setHeight($height)->setShowLegend($legend === '1')
            ->setBackgroundColor('white')->setForegroundColor('black');
        $png = "$outdir/$name-$index.png";
        file_put_contents($png, (new GraphImage($chart))->render());
        $charts[] = ['template' => $name, 'metrics' => $chart->getMetrics(), 'png' => $png];
    }
}
echo json_encode($charts, JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES), "\n";
