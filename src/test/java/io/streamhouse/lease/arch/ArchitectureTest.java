package io.streamhouse.lease.arch;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.base.DescribedPredicate;
import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Keeps the arrows one way: core logic never depends on Kubernetes, Quarkus or the operator. */
class ArchitectureTest {

    static JavaClasses classes;

    @BeforeAll
    static void importClasses() {
        classes = new ClassFileImporter()
                .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .importPackages("io.streamhouse.lease");
    }

    @Test
    void coreHasNoKubernetesOrFrameworkImports() {
        noClasses().that().resideInAnyPackage("..lease.model..", "..lease.store..", "..lease.assign..")
                .should().dependOnClassesThat().resideInAnyPackage(
                        "io.fabric8..", "io.javaoperatorsdk..", "io.quarkus..", "io.quarkiverse..",
                        "jakarta.enterprise..", "jakarta.inject..")
                .allowEmptyShould(true)
                .check(classes);
    }

    @Test
    void coreDoesNotDependOnTheOperatorOrAgent() {
        noClasses().that().resideInAnyPackage("..lease.model..", "..lease.store..", "..lease.assign..")
                .should().dependOnClassesThat().resideInAnyPackage("..lease.operator..", "..lease.agent..")
                .allowEmptyShould(true)
                .check(classes);
    }

    @Test
    void agentLibraryNeedsNeitherTheOperatorNorAFramework() {
        noClasses().that().resideInAPackage("..lease.agent..")
                .should().dependOnClassesThat().resideInAnyPackage("..lease.operator..", "io.javaoperatorsdk..",
                        "io.quarkus..", "io.quarkiverse..", "jakarta.enterprise..", "jakarta.inject..")
                .check(classes);
    }

    @Test
    void modelDependsOnNothingButTheJdk() {
        noClasses().that().resideInAPackage("..lease.model..")
                .should().dependOnClassesThat().resideOutsideOfPackages("java..", "..lease.model..")
                .check(classes);
    }

    @Test
    void assignmentDecidesWithoutTheStore() {
        noClasses().that().resideInAPackage("..lease.assign..")
                .should().dependOnClassesThat().resideInAPackage("..lease.store..")
                .check(classes);
    }

    @Test
    void theApiTypesDependOnNeitherTheOperatorNorTheStore() {
        noClasses().that().resideInAPackage("..lease.api..")
                .should().dependOnClassesThat().resideInAnyPackage("..lease.operator..", "..lease.store..",
                        "..lease.agent..")
                .check(classes);
    }

    @Test
    void noReconcilerReachesIntoAnother() {
        for (JavaClass reconciler : classes) {
            String name = reconciler.getName();
            if (!reconciler.getSimpleName().endsWith("Reconciler")) {
                continue;
            }
            noClasses().that().haveFullyQualifiedName(name)
                    .should().dependOnClassesThat(DescribedPredicate.describe("another reconciler",
                            (JavaClass c) -> c.getSimpleName().endsWith("Reconciler") && !c.getName().equals(name)
                                    && c.getPackageName().startsWith("io.streamhouse")))
                    .check(classes);
        }
    }
}
